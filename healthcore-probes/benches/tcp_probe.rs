//! CPU time per `tcp` probe on loopback.
//!
//! 64 listeners on 127.0.0.10 … 127.0.0.73 (so ephemeral ports and
//! TIME_WAIT slots are spread over many address pairs) accept and drop
//! every connection; each iteration runs one `TcpChecker::check` against
//! the next listener on a current-thread tokio runtime. The `cpu` group
//! measures process CPU time (user + system, all threads:
//! `CLOCK_PROCESS_CPUTIME_ID`), which includes the in-process listener's
//! accept and the kernel's loopback work; the `wall` group measures
//! elapsed time for the same loop.
//!
//! Run briefly: `cargo bench -p healthcore-probes --bench tcp_probe --
//! --warm-up-time 1 --measurement-time 3`.

use std::hint::black_box;
use std::time::Duration;

use criterion::measurement::{Measurement, ValueFormatter};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use healthcore::checker::Checker;
use healthcore::model::{CheckSpec, Outcome};
use healthcore_probes::TcpChecker;

const LISTENERS: u8 = 64;

/// Process CPU time (user + system, every thread).
struct CpuTime;

fn cpu_now() -> Duration {
    let ts = nix::time::clock_gettime(nix::time::ClockId::CLOCK_PROCESS_CPUTIME_ID)
        .expect("CLOCK_PROCESS_CPUTIME_ID is available");
    Duration::new(
        u64::try_from(ts.tv_sec()).unwrap_or(0),
        u32::try_from(ts.tv_nsec()).unwrap_or(0),
    )
}

struct MicrosFormatter;

impl ValueFormatter for MicrosFormatter {
    fn scale_values(&self, _typical: f64, values: &mut [f64]) -> &'static str {
        for v in values.iter_mut() {
            *v /= 1000.0;
        }
        "µs (CPU)"
    }

    fn scale_throughputs(
        &self,
        _typical: f64,
        throughput: &Throughput,
        values: &mut [f64],
    ) -> &'static str {
        let n = match throughput {
            Throughput::Elements(n) | Throughput::Bytes(n) | Throughput::BytesDecimal(n) => *n,
            _ => 1,
        };
        for v in values.iter_mut() {
            *v = n as f64 * 1e9 / *v;
        }
        "probes/CPU-s"
    }

    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        "ns"
    }
}

impl Measurement for CpuTime {
    type Intermediate = Duration;
    type Value = Duration;

    fn start(&self) -> Duration {
        cpu_now()
    }
    fn end(&self, i: Duration) -> Duration {
        cpu_now().saturating_sub(i)
    }
    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }
    fn zero(&self) -> Duration {
        Duration::ZERO
    }
    fn to_f64(&self, v: &Duration) -> f64 {
        v.as_nanos() as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        &MicrosFormatter
    }
}

/// A runtime, the listeners, and one spec per listener.
fn setup() -> (tokio::runtime::Runtime, Vec<CheckSpec>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let specs = rt.block_on(async {
        let mut specs = Vec::new();
        for i in 0..LISTENERS {
            let ip = format!("127.0.0.{}", 10 + u16::from(i));
            let l = tokio::net::TcpListener::bind((ip.as_str(), 0))
                .await
                .expect("bind a loopback listener");
            let port = l.local_addr().expect("local addr").port();
            tokio::spawn(async move {
                while let Ok((s, _)) = l.accept().await {
                    drop(s);
                }
            });
            specs.push(
                CheckSpec::new("tcp")
                    .with_params(serde_json::json!({"host": ip, "port": port}))
                    .every(Duration::from_secs(60), Duration::from_secs(2)),
            );
        }
        specs
    });
    (rt, specs)
}

fn run<M: Measurement>(c: &mut Criterion<M>, name: &str) {
    let (rt, specs) = setup();
    let checker = TcpChecker::new();
    // Sanity: every listener answers.
    for s in &specs {
        let o = rt.block_on(checker.check(s));
        assert_eq!(o.outcome, Outcome::Pass, "{o:?}");
    }
    let mut group = c.benchmark_group("tcp_probe");
    group.throughput(Throughput::Elements(1));
    let mut i = 0usize;
    group.bench_function(name, |b| {
        b.iter(|| {
            let spec = &specs[i % specs.len()];
            i = i.wrapping_add(1);
            black_box(rt.block_on(checker.check(black_box(spec))))
        })
    });
    group.finish();
}

fn cpu(c: &mut Criterion<CpuTime>) {
    run(c, "cpu");
}

fn wall(c: &mut Criterion) {
    run(c, "wall");
}

criterion_group! {
    name = cpu_group;
    config = Criterion::default().with_measurement(CpuTime);
    targets = cpu
}
criterion_group!(wall_group, wall);
criterion_main!(cpu_group, wall_group);
