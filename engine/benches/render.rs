//! One render of the microservice-base chart (Deployment, Service, HPA, Ingress) for one
//! tenant, with a compiled chart reused across renders as the controller does.

use criterion::{Criterion, criterion_group, criterion_main};
use gitopshq_engine::CompiledChart;

#[path = "../tests/common/mod.rs"]
mod common;

fn render(c: &mut Criterion) {
    let source = common::microservice_base();
    let input = common::payment_api_production();
    let chart = CompiledChart::compile(&source).expect("chart compiles");

    c.bench_function("render microservice-base (4 templates)", |b| {
        b.iter(|| chart.render(std::hint::black_box(&input)).expect("renders"))
    });
    c.bench_function("compile microservice-base", |b| {
        b.iter(|| CompiledChart::compile(std::hint::black_box(&source)).expect("compiles"))
    });
}

criterion_group!(benches, render);
criterion_main!(benches);
