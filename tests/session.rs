//! The one entry point: frames stream and can stop a run, bad input is a typed error, and the
//! wasm glue (compiled natively) forwards to it.

mod common;

use thinktwice::feedback::Flow;
use thinktwice::geometry::Framing;
use thinktwice::saliency::Method;
use thinktwice::web::{Engine, ExplainRequest};
use thinktwice::{Backend, BackendChoice, Error, ExplainOptions, Session};

/// A 320×200 picture: a bright disc on the left half on a dark ground.
fn disc() -> image::RgbImage {
    image::RgbImage::from_fn(320, 200, |x, y| {
        let d = ((x as f32 - 90.0).powi(2) + (y as f32 - 100.0).powi(2)).sqrt();
        if d < 50.0 { image::Rgb([250, 210, 35]) } else { image::Rgb([25, 45, 60]) }
    })
}

#[test]
fn feedback_frames_stream_with_maps_and_boxes_and_a_stop_cancels_promptly() {
    let session = common::session();
    let image = session.prepare(disc(), Framing::Whole).unwrap();
    let top = pollster::block_on(session.classify(&image)).unwrap().top(1)[0].index;
    let mut options = ExplainOptions::new(Method::FeedbackSoft);
    options.frame_map_size = Some((64, 40));
    let mut frames = Vec::new();
    let done = pollster::block_on(session.explain(&image, &[top], &options, &mut |f| {
        frames.push(f.clone());
        Flow::Continue(())
    }))
    .unwrap();
    assert!(frames.len() >= 3, "{} frames", frames.len());
    for (i, f) in frames.iter().enumerate() {
        assert_eq!((f.class, f.iteration), (top, i));
        assert_eq!(f.open_fraction.len(), 33);
        let map = f.map.as_ref().expect("frames carry maps when asked");
        assert_eq!((map.width, map.height), (64, 40));
        let b = f.bbox.expect("a box per frame");
        assert!(0.0 <= b.x0 && b.x0 < b.x1 && b.x1 <= 320.0 && b.y1 <= 200.0, "{b:?}");
    }
    assert!(frames.windows(2).all(|w| w[1].elapsed_ms >= w[0].elapsed_ms));
    // The final trace is the frames' records without their maps.
    assert_eq!(done[0].trace.len(), frames.len());
    assert!(done[0].trace.iter().all(|r| r.map.is_none()));

    // Stop after the second frame: the run ends there, cancelled, and no frame follows.
    let mut seen = 0;
    let stopped = pollster::block_on(session.explain(&image, &[top, 1], &options, &mut |_| {
        seen += 1;
        if seen == 2 { Flow::Break(()) } else { Flow::Continue(()) }
    }));
    assert!(matches!(stopped, Err(Error::Cancelled)), "{stopped:?}");
    assert_eq!(seen, 2);
}

#[test]
fn baselines_stream_one_frame_and_boxes_match_the_result() {
    let session = common::session();
    let image = session.prepare(disc(), Framing::Whole).unwrap();
    let mut options = ExplainOptions::new(Method::Cam);
    options.frame_map_size = Some((224, 224));
    let mut frames = Vec::new();
    let done = pollster::block_on(session.explain(&image, &[950, 1], &options, &mut |f| {
        frames.push(f.clone());
        Flow::Continue(())
    }))
    .unwrap();
    assert_eq!(frames.iter().map(|f| (f.class, f.iteration)).collect::<Vec<_>>(), [(950, 0), (1, 0)]);
    for (f, e) in frames.iter().zip(&done) {
        assert_eq!(f.bbox, e.bbox);
        assert_eq!(f.map.as_ref(), Some(&e.map));
        assert_eq!(f.probability, e.probability);
    }
}

#[test]
fn bad_input_is_a_typed_error_not_a_panic() {
    let session = common::session();
    let image = session.prepare(disc(), Framing::Whole).unwrap();
    let explain = |classes: &[usize]| pollster::block_on(session.explain(&image, classes, &ExplainOptions::default(), &mut |_| Flow::Continue(())));
    assert!(matches!(explain(&[1000]), Err(Error::UnknownClass { .. })));
    assert!(matches!(explain(&[usize::MAX]), Err(Error::UnknownClass { .. })));
    assert!(matches!(session.prepare_encoded(b"", Framing::Whole), Err(Error::Image(_))));
    assert!(matches!(session.prepare_encoded(b"GIF89a broken", Framing::Whole), Err(Error::Image(_))));
    assert!(matches!(session.prepare_rgba(&[0; 12], 2, 2, Framing::Whole), Err(Error::Image(_))));
    assert!(matches!(session.prepare_rgba(&[], 0, 0, Framing::Whole), Err(Error::Image(_))));
    let weights = std::fs::read(common::weights_path("f16")).unwrap();
    for broken in [&b""[..], b"not safetensors", &weights[..weights.len() / 2]] {
        let loaded = pollster::block_on(Session::load(broken, BackendChoice::Cpu));
        assert!(matches!(loaded, Err(Error::Weights(_))), "{:?}", loaded.err());
    }
}

#[test]
fn rgba_and_encoded_images_give_the_same_scores() {
    let session = common::session();
    let photo = disc();
    let rgba = image::DynamicImage::ImageRgb8(photo.clone()).to_rgba8();
    let mut png = std::io::Cursor::new(Vec::new());
    photo.write_to(&mut png, image::ImageFormat::Png).unwrap();
    let from_pixels = session.prepare_rgba(rgba.as_raw(), 320, 200, Framing::CenterCrop).unwrap();
    let from_file = session.prepare_encoded(png.get_ref(), Framing::CenterCrop).unwrap();
    let a = pollster::block_on(session.classify(&from_pixels)).unwrap();
    let b = pollster::block_on(session.classify(&from_file)).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.top(5).len(), 5);
    assert!((a.probabilities.iter().sum::<f32>() - 1.0).abs() < 1e-3);
}

#[test]
fn web_glue_forwards_to_the_session_natively() {
    let weights = std::fs::read(common::weights_path("f16")).unwrap();
    let mut engine = pollster::block_on(Engine::create(&weights, "cpu")).unwrap();
    assert_eq!(engine.ready().backend, Backend::Cpu);
    assert_eq!(engine.ready().fallback_reason, None);
    let ready = serde_json::to_value(engine.ready()).unwrap();
    assert_eq!(ready, serde_json::json!({ "backend": "cpu", "adapter": null, "fallbackReason": null }));
    // No image yet, then a bad one: typed errors with stable codes.
    assert_eq!(pollster::block_on(engine.classify_top(5)).unwrap_err().code, "bad-input");
    assert_eq!(engine.set_image(&[1, 2, 3], 1, 1, "whole").unwrap_err().code, "bad-image");
    assert_eq!(engine.set_image(&[0; 4], 1, 1, "sideways").unwrap_err().code, "bad-input");
    let rgba = image::DynamicImage::ImageRgb8(disc()).to_rgba8();
    let info = engine.set_image(rgba.as_raw(), 320, 200, "whole").unwrap();
    assert_eq!((info.width, info.height, info.framing), (320, 200, "whole"));
    let (classification, probabilities) = pollster::block_on(engine.classify_top(3)).unwrap();
    assert_eq!(classification.top.len(), 3);
    assert_eq!(probabilities.len(), 1000);

    let request = |method: &str| ExplainRequest {
        classes: vec![classification.top[0].index],
        method: Some(method.into()),
        map_size: Some(32),
        ..ExplainRequest::default()
    };
    let mut frames = 0;
    let results = pollster::block_on(engine.explain_with(&request("feedback-soft"), &mut |frame, map| {
        frames += 1;
        assert_eq!((frame.map_width, frame.map_height), (32, 32));
        assert_eq!(map.map(|m| m.values.len()), Some(32 * 32));
        true
    }))
    .unwrap();
    assert!(frames >= 3);
    assert_eq!(results[0].0.map_width, 224);
    assert_eq!(results[0].1.values.len(), 224 * 224);
    // The JSON the page gets uses camelCase names.
    let json = serde_json::to_value(&results[0].0).unwrap();
    assert!(json.get("mapWidth").is_some() && json.get("box").is_some(), "{json}");
    assert!(json["trace"][0].get("openFraction").is_some(), "{json}");

    let stopped = pollster::block_on(engine.explain_with(&request("feedback-soft"), &mut |_, _| false));
    assert_eq!(stopped.unwrap_err().code, "cancelled");
    let unknown = pollster::block_on(engine.explain_with(&request("magic"), &mut |_, _| true));
    assert_eq!(unknown.unwrap_err().code, "unknown-method");
    assert_eq!(pollster::block_on(Engine::create(b"junk", "cpu")).err().map(|e| e.code), Some("bad-weights"));
    assert_eq!(pollster::block_on(Engine::create(&weights, "tpu")).err().map(|e| e.code), Some("bad-input"));

    // Class visualisation through the glue: every step streams, pictures as 224×224 RGBA every
    // 10 steps and at the end; a false stops it; an unknown class is a typed error.
    let mut steps = Vec::new();
    let (grown, picture) = pollster::block_on(engine.visualize_with("flamingo", 12, &mut |step, picture| {
        steps.push((step.iteration, picture.map(|p| p.len())));
        true
    }))
    .unwrap();
    assert_eq!((grown.class, grown.iterations, picture.len()), (130, 12, 224 * 224 * 4));
    assert_eq!(steps.iter().map(|s| s.0).collect::<Vec<_>>(), (0..=12).collect::<Vec<_>>());
    let with_pictures: Vec<usize> = steps.iter().filter(|s| s.1 == Some(224 * 224 * 4)).map(|s| s.0).collect();
    assert_eq!(with_pictures, vec![0, 10, 12]);
    assert!(picture.chunks(4).all(|p| p[3] == 255));
    let json = serde_json::to_value(&grown).unwrap();
    assert_eq!(json["name"], "flamingo");
    assert_eq!(pollster::block_on(engine.visualize_with("flamingo", 12, &mut |s, _| s.iteration < 3)).unwrap_err().code, "cancelled");
    assert_eq!(pollster::block_on(engine.visualize_with("no such bird", 12, &mut |_, _| true)).unwrap_err().code, "unknown-class");
}
