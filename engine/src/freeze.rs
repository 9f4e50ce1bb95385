//! Freeze windows: absolute and recurring (cron in a time zone) windows of an environment.
