use std::{
    collections::HashSet,
    net::{Ipv4Addr, TcpListener},
    sync::{Mutex, PoisonError},
};

use crate::{Error, Result};

/// A loopback port free right now.
///
/// The kernel may hand the same ephemeral port to two callers once the first listener is closed,
/// so ports handed out by this process are never handed out again. Another process can still take
/// the port before our server binds it; `TestEnv` retries the start when that happens.
pub(crate) fn free_port() -> Result<u16> {
    static GIVEN: Mutex<Option<HashSet<u16>>> = Mutex::new(None);
    let mut given = GIVEN.lock().unwrap_or_else(PoisonError::into_inner);
    let given = given.get_or_insert_with(HashSet::new);
    loop {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .map_err(Error::io("cannot bind a loopback port"))?;
        let port = listener
            .local_addr()
            .map_err(Error::io("cannot read a bound port"))?
            .port();
        if given.insert(port) {
            return Ok(port);
        }
    }
}
