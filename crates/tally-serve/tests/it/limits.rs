//! Every limit at its bound and one past it, over real HTTP.

use std::io::Write;
use std::time::{Duration, Instant};

use tally_serve::config::Limits;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::support::{
    ACME, BETA, Server, accounts_body, call, get, raw, read_response, runtime, send,
};

/// A valid accounts request padded with trailing spaces to exactly `len` bytes.
fn padded(len: usize, id: u128) -> Vec<u8> {
    let mut body = accounts_body(id, id + 1).into_bytes();
    assert!(body.len() <= len);
    body.resize(len, b' ');
    body
}

async fn post_raw(
    s: &Server,
    key: &str,
    extra: &[(&str, &str)],
    body: &[u8],
) -> crate::support::Resp {
    let auth = format!("Bearer {}", *ACME);
    let mut headers = vec![
        ("Authorization", auth.as_str()),
        ("Idempotency-Key", key),
        ("Content-Type", "application/json"),
    ];
    headers.extend_from_slice(extra);
    send(s.addr, &raw("POST", "/v1/ledger/accounts", &headers, body)).await
}

#[test]
fn req_body_max_at_the_bound_and_past_it() {
    runtime().block_on(async {
        let limits = Limits {
            req_body_max: 1_024,
            ..Limits::default()
        };
        let s = Server::start(limits).await;
        let ok = post_raw(&s, "k1", &[], &padded(1_024, 10)).await;
        assert_eq!(ok.status, 200, "{:?}", String::from_utf8_lossy(&ok.body));
        let over = post_raw(&s, "k2", &[], &padded(1_025, 20)).await;
        assert_eq!(over.status, 413);
        assert_eq!(over.code(), "PAYLOAD_TOO_LARGE");
        // Without a Content-Length (chunked), the cap holds while reading.
        let body = padded(1_025, 30);
        let auth = format!("Bearer {}", *ACME);
        let mut bytes = format!(
            "POST /v1/ledger/accounts HTTP/1.1\r\nHost: t\r\nConnection: close\r\nAuthorization: {auth}\r\nIdempotency-Key: k3\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n",
            body.len()
        )
        .into_bytes();
        bytes.extend_from_slice(&body);
        bytes.extend_from_slice(b"\r\n0\r\n\r\n");
        let chunked = send(s.addr, &bytes).await;
        assert_eq!(chunked.status, 413);
        s.stop().await;
    });
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

#[test]
fn post_inflate_max_at_the_bound_and_past_it() {
    runtime().block_on(async {
        let body = padded(4_000, 40);
        let wire = gzip(&body);
        for (cap, status) in [(4_000usize, 200u16), (3_999, 413)] {
            let limits = Limits {
                req_body_max: 1_024,
                decomp_ratio_max: 1_000,
                post_inflate_max: cap,
                ..Limits::default()
            };
            let s = Server::start(limits).await;
            let r = post_raw(&s, "k", &[("Content-Encoding", "gzip")], &wire).await;
            assert_eq!(
                r.status,
                status,
                "cap {cap}: {}",
                String::from_utf8_lossy(&r.body)
            );
            s.stop().await;
        }
    });
}

#[test]
fn decomp_ratio_max_at_the_bound_and_past_it() {
    runtime().block_on(async {
        let body = padded(4_000, 50);
        let wire = zstd::encode_all(&body[..], 19).unwrap();
        let ratio = body.len().div_ceil(wire.len());
        for (r, status) in [(ratio, 200u16), (ratio - 1, 413)] {
            let limits = Limits {
                decomp_ratio_max: r,
                ..Limits::default()
            };
            let s = Server::start(limits).await;
            let resp = post_raw(&s, "k", &[("Content-Encoding", "zstd")], &wire).await;
            assert_eq!(resp.status, status, "ratio {r}");
            if status == 413 {
                assert_eq!(resp.code(), "PAYLOAD_TOO_LARGE");
            }
            s.stop().await;
        }
    });
}

#[test]
fn decompression_bombs_and_nested_encodings_are_refused() {
    runtime().block_on(async {
        let s = Server::start(Limits::default()).await;
        // 64 MiB of zeros: about 64 KiB of gzip.
        let bomb = gzip(&vec![0u8; 64 << 20]);
        let r = post_raw(&s, "b1", &[("Content-Encoding", "gzip")], &bomb).await;
        assert_eq!(r.status, 413);
        assert_eq!(r.code(), "PAYLOAD_TOO_LARGE");
        // gzip inside gzip.
        let nested = gzip(&gzip(accounts_body(1, 2).as_bytes()));
        let r = post_raw(&s, "b2", &[("Content-Encoding", "gzip")], &nested).await;
        assert_eq!(r.status, 400);
        // Two encodings named.
        let once = gzip(accounts_body(1, 2).as_bytes());
        let r = post_raw(&s, "b3", &[("Content-Encoding", "gzip, gzip")], &once).await;
        assert_eq!(r.status, 400);
        let r = post_raw(&s, "b4", &[("Content-Encoding", "br")], &once).await;
        assert_eq!(r.status, 415);
        // One gzip layer is fine.
        let r = post_raw(&s, "b5", &[("Content-Encoding", "gzip")], &once).await;
        assert_eq!(r.status, 200);
        let metrics = get(s.addr, "/metrics", &ACME).await;
        let text = String::from_utf8(metrics.body).unwrap();
        assert!(
            text.contains("rejected_total{reason=\"decompress_cap\"} 3"),
            "{text}"
        );
        s.stop().await;
    });
}

#[test]
fn a_slow_body_is_cut_off_at_the_request_timeout() {
    runtime().block_on(async {
        let limits = Limits {
            request_timeout: Duration::from_millis(400),
            ..Limits::default()
        };
        let s = Server::start(limits).await;
        // Within the bound: a body sent at once.
        let ok = post_raw(&s, "t1", &[], accounts_body(1, 2).as_bytes()).await;
        assert_eq!(ok.status, 200);
        // Past it: half a body, then nothing.
        let body = accounts_body(3, 4);
        let head = raw(
            "POST",
            "/v1/ledger/accounts",
            &[
                ("Authorization", &format!("Bearer {}", *ACME)),
                ("Idempotency-Key", "t2"),
                ("Content-Type", "application/json"),
            ],
            body.as_bytes(),
        );
        let cut = head.len() - body.len() / 2;
        let mut stream = TcpStream::connect(s.addr).await.unwrap();
        stream.write_all(&head[..cut]).await.unwrap();
        let started = Instant::now();
        let r = read_response(&mut stream).await;
        assert_eq!(r.status, 408);
        assert_eq!(r.code(), "REQUEST_TIMEOUT");
        assert!(started.elapsed() < Duration::from_secs(3));
        s.stop().await;
    });
}

#[test]
fn slow_headers_are_cut_off_at_the_header_timeout() {
    runtime().block_on(async {
        let limits = Limits {
            header_read_timeout: Duration::from_millis(300),
            ..Limits::default()
        };
        let s = Server::start(limits).await;
        let mut stream = TcpStream::connect(s.addr).await.unwrap();
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n")
            .await
            .unwrap();
        let started = Instant::now();
        let mut buf = Vec::new();
        let n = tokio::time::timeout(
            Duration::from_secs(5),
            tokio::io::AsyncReadExt::read_to_end(&mut stream, &mut buf),
        )
        .await
        .expect("the server closed the connection");
        let _ = n;
        assert!(started.elapsed() < Duration::from_secs(3));
        // Headers within the bound are served.
        let ok = send(s.addr, &raw("GET", "/healthz", &[], b"")).await;
        assert_eq!(ok.status, 200);
        s.stop().await;
    });
}

/// Opens a POST whose body never completes: it holds an in-flight permit.
async fn hold(s: &Server, key: &str) -> TcpStream {
    let body = accounts_body(900, 901);
    let head = raw(
        "POST",
        "/v1/ledger/accounts",
        &[
            ("Authorization", &format!("Bearer {}", *ACME)),
            ("Idempotency-Key", key),
            ("Content-Type", "application/json"),
        ],
        body.as_bytes(),
    );
    let mut stream = TcpStream::connect(s.addr).await.unwrap();
    stream.write_all(&head[..head.len() - 5]).await.unwrap();
    stream
}

#[test]
fn max_inflight_at_the_bound_and_past_it_and_readyz_degrades() {
    runtime().block_on(async {
        let limits = Limits {
            max_inflight: 2,
            ..Limits::default()
        };
        let s = Server::start(limits).await;
        let first = hold(&s, "h1").await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        // One permit left: the bound.
        let ok = get(s.addr, "/v1/tokens/self", &ACME).await;
        assert_eq!(ok.status, 200);
        let second = hold(&s, "h2").await;
        // Wait until both holds have their permits (a busy machine may be slow).
        for _ in 0..100 {
            if get(s.addr, "/readyz", &ACME).await.status == 503 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // None left: shed.
        let shed = get(s.addr, "/v1/tokens/self", &ACME).await;
        assert_eq!(shed.status, 503);
        assert_eq!(shed.code(), "OVERLOADED");
        assert_eq!(shed.header("retry-after"), Some("1"));
        let ready = get(s.addr, "/readyz", &ACME).await;
        assert_eq!(ready.status, 503);
        assert_eq!(ready.json()["causes"][0], "backpressure");
        let metrics = String::from_utf8(get(s.addr, "/metrics", &ACME).await.body).unwrap();
        assert!(
            metrics.contains("readyz_degraded{cause=\"backpressure\"} 1"),
            "{metrics}"
        );
        drop(first);
        drop(second);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let ready = get(s.addr, "/readyz", &ACME).await;
        assert_eq!(
            ready.status,
            200,
            "{}",
            String::from_utf8_lossy(&ready.body)
        );
        let metrics = String::from_utf8(get(s.addr, "/metrics", &ACME).await.body).unwrap();
        assert!(metrics.contains("readyz_degraded{cause=\"backpressure\"} 0"));
        s.stop().await;
    });
}

#[test]
fn max_rps_at_the_bound_and_past_it() {
    runtime().block_on(async {
        let limits = Limits {
            max_rps: 1,
            rps_burst: 3,
            ..Limits::default()
        };
        let s = Server::start(limits).await;
        for _ in 0..3 {
            let r = get(s.addr, "/v1/tokens/self", &ACME).await;
            assert_eq!(r.status, 200);
        }
        let r = get(s.addr, "/v1/tokens/self", &ACME).await;
        assert_eq!(r.status, 429);
        assert_eq!(r.code(), "RATE_LIMITED");
        assert!(r.header("retry-after").is_some());
        // Operations routes answer under any rate.
        assert_eq!(get(s.addr, "/healthz", &ACME).await.status, 200);
        s.stop().await;
    });
}

#[test]
fn tenant_rps_at_the_bound_and_past_it() {
    runtime().block_on(async {
        let limits = Limits {
            tenant_rps: 1,
            tenant_burst: 2,
            ..Limits::default()
        };
        let s = Server::start(limits).await;
        // A read the tenant may make (no such account: 404, past the limits).
        for _ in 0..2 {
            assert_eq!(
                get(s.addr, "/v1/ledger/accounts/1", &ACME).await.status,
                404
            );
        }
        let r = get(s.addr, "/v1/ledger/accounts/1", &ACME).await;
        assert_eq!(r.status, 429);
        assert!(r.header("retry-after").is_some());
        // Another tenant has its own bucket; a bad token drains none.
        assert_eq!(
            get(s.addr, "/v1/ledger/accounts/1", &BETA).await.status,
            404
        );
        let anon = call(
            s.addr,
            "GET",
            "/v1/ledger/conservation",
            Some("acme"),
            None,
            b"",
        )
        .await;
        assert_eq!(anon.status, 401);
        s.stop().await;
    });
}

#[test]
fn limits_that_cannot_work_are_refused() {
    for bad in [
        Limits {
            max_inflight: 0,
            ..Limits::default()
        },
        Limits {
            req_body_max: 0,
            ..Limits::default()
        },
        Limits {
            post_inflate_max: 10,
            req_body_max: 11,
            ..Limits::default()
        },
        Limits {
            idempotency_ttl: Duration::from_secs(86_399),
            ..Limits::default()
        },
        Limits {
            tls_handshake_timeout: Duration::ZERO,
            ..Limits::default()
        },
    ] {
        assert!(bad.validate().is_err(), "{bad:?}");
    }
    assert!(
        Limits {
            idempotency_ttl: Duration::from_secs(86_400),
            ..Limits::default()
        }
        .validate()
        .is_ok()
    );
}

#[test]
fn batch_events_max_and_history_page_max_at_the_bound_and_past_it() {
    runtime().block_on(async {
        let s = Server::start(Limits::default()).await;
        let accounts = |from: u128, n: u128| {
            let events: Vec<String> = (from..from + n)
                .map(|id| format!(r#"{{"id":{id},"ledger":1,"code":1,"flags":["history"]}}"#))
                .collect();
            format!(r#"{{"accounts":[{}]}}"#, events.join(","))
        };
        let max = tally_serve::config::BATCH_EVENTS_MAX as u128;
        let r = crate::support::post(
            s.addr,
            "/v1/ledger/accounts",
            &ACME,
            "b1",
            &accounts(1, max),
        )
        .await;
        assert_eq!(r.status, 200);
        assert_eq!(r.json()["results"].as_array().unwrap().len(), max as usize);
        let r = crate::support::post(
            s.addr,
            "/v1/ledger/accounts",
            &ACME,
            "b2",
            &accounts(20_000, max + 1),
        )
        .await;
        assert_eq!(r.status, 400);
        // History pages: 1,000 at most.
        for (limit, status) in [(1_000, 200), (1_001, 400), (0, 400)] {
            let r = get(
                s.addr,
                &format!("/v1/ledger/accounts/1/history?limit={limit}"),
                &ACME,
            )
            .await;
            assert_eq!(r.status, status, "limit {limit}");
        }
        s.stop().await;
    });
}

#[test]
fn max_connections_at_the_bound_and_past_it() {
    runtime().block_on(async {
        let limits = Limits {
            max_connections: 2,
            ..Limits::default()
        };
        let s = Server::start(limits).await;
        // Two idle keep-alive connections: the bound.
        let first = TcpStream::connect(s.addr).await.unwrap();
        let second = TcpStream::connect(s.addr).await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        // A third is not served while they are open.
        let mut third = TcpStream::connect(s.addr).await.unwrap();
        third
            .write_all(&raw("GET", "/healthz", &[], b""))
            .await
            .unwrap();
        let mut buf = [0u8; 16];
        let waited = tokio::time::timeout(
            Duration::from_millis(300),
            tokio::io::AsyncReadExt::read(&mut third, &mut buf),
        )
        .await;
        assert!(waited.is_err(), "served past the connection cap");
        // One closes: the third is served.
        drop(first);
        let r = read_response(&mut third).await;
        assert_eq!(r.status, 200);
        drop(second);
        s.stop().await;
    });
}
