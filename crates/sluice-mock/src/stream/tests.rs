use super::*;
use http_body_util::BodyExt;
use serde_json::json;

fn three_events() -> SseWriter {
    let mut w = SseWriter::new();
    w.event(None, Beat::Preamble, &json!({"n": 0}));
    w.event(None, Beat::Token, &json!({"n": 1}));
    w.event(Some("named"), Beat::Token, &json!({"n": 2}));
    w.done();
    w
}

/// Every frame until the end or an error, and whether it ended in an error.
async fn frames(mut body: SseBody) -> (Vec<Bytes>, bool) {
    let mut out = Vec::new();
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(f) => out.push(f.into_data().unwrap()),
            Err(StreamDropped) => return (out, true),
        }
    }
    (out, false)
}

#[tokio::test]
async fn an_unpaced_stream_is_one_frame_with_sse_framing() {
    let (frames, dropped) = frames(three_events().finish(Pacing::default())).await;
    assert!(!dropped);
    assert_eq!(frames.len(), 1);
    assert_eq!(
        frames[0],
        "data: {\"n\":0}\n\ndata: {\"n\":1}\n\nevent: named\ndata: {\"n\":2}\n\ndata: [DONE]\n\n"
    );
}

#[tokio::test]
async fn a_paced_stream_sends_each_event_as_its_own_frame() {
    let pacing = Pacing {
        ttft: Duration::from_millis(1),
        per_token: Duration::from_millis(1),
        drop_after: None,
    };
    let (frames, dropped) = frames(three_events().finish(pacing)).await;
    assert!(!dropped);
    assert_eq!(frames.len(), 4);
    assert_eq!(frames[3], "data: [DONE]\n\n");
}

#[tokio::test]
async fn a_dropped_stream_sends_n_events_then_fails() {
    let pacing = Pacing {
        drop_after: Some(2),
        ..Pacing::default()
    };
    let (frames, dropped) = frames(three_events().finish(pacing)).await;
    assert!(dropped);
    assert_eq!(
        frames.concat(),
        b"data: {\"n\":0}\n\ndata: {\"n\":1}\n\n".to_vec()
    );
}

#[tokio::test]
async fn dropping_after_more_events_than_exist_ends_normally() {
    let pacing = Pacing {
        drop_after: Some(10),
        ..Pacing::default()
    };
    let (_, dropped) = frames(three_events().finish(pacing)).await;
    assert!(!dropped);
}
