//! The target every `loadgen scrape` scraper reads (also compiled into the
//! `scrape_alloc` binary): Prometheus' parser fixture of a Go program's 237 families
//! repeated under six `replica` labels, served over keep-alive HTTP.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

const FIXTURE: &str =
    include_str!("../../../testdata/prometheus/exposition/alltypes.237mfs.prom.txt");
const REPLICAS: usize = 6;

/// The fixture's families with every sample repeated under `replica="0".."5"`.
pub fn exposition() -> (String, usize) {
    let mut out = String::with_capacity(FIXTURE.len() * REPLICAS);
    let mut samples = 0;
    let mut family: Vec<&str> = Vec::new();
    let mut flush = |family: &mut Vec<&str>, out: &mut String| {
        for r in 0..REPLICAS {
            for line in family.iter() {
                let (name, rest) = match line.find(['{', ' ']) {
                    Some(i) => line.split_at(i),
                    None => continue,
                };
                let labelled = match rest.strip_prefix('{') {
                    Some(labels) => format!("{name}{{replica=\"{r}\",{labels}"),
                    None => format!("{name}{{replica=\"{r}\"}}{rest}"),
                };
                out.push_str(&labelled);
                out.push('\n');
                samples += 1;
            }
        }
        family.clear();
    };
    for line in FIXTURE.lines() {
        if line.starts_with('#') {
            if line.starts_with("# HELP") && !family.is_empty() {
                flush(&mut family, &mut out);
            }
            out.push_str(line);
            out.push('\n');
        } else if !line.trim().is_empty() {
            family.push(line);
        }
    }
    flush(&mut family, &mut out);
    (out, samples)
}

/// Serves `body` on a free port (keep-alive, any path); returns the port and the count
/// of requests answered.
pub fn serve(body: Arc<String>) -> anyhow::Result<(u16, Arc<AtomicU64>)> {
    let listener = TcpListener::bind(("127.0.0.1", 0))?;
    let port = listener.local_addr()?.port();
    let served = Arc::new(AtomicU64::new(0));
    let count = served.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (body, count) = (body.clone(), count.clone());
            std::thread::spawn(move || {
                let mut stream = stream;
                let mut buf = vec![0u8; 16 * 1024];
                let mut pending = Vec::new();
                loop {
                    let Ok(n) = stream.read(&mut buf) else { return };
                    if n == 0 {
                        return;
                    }
                    pending.extend_from_slice(&buf[..n]);
                    while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                        pending.drain(..end + 4);
                        let head = format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\n\r\n",
                            body.len()
                        );
                        if stream.write_all(head.as_bytes()).is_err()
                            || stream.write_all(body.as_bytes()).is_err()
                        {
                            return;
                        }
                        count.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    Ok((port, served))
}
