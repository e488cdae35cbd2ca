//! Class model visualisation: the grown image is the class for the network (also once written
//! as 8-bit pixels), it got there step by step from a picture that was not, and a stop stops it.

mod common;

use thinktwice::Error;
use thinktwice::feedback::Flow;
use thinktwice::geometry::Framing;
use thinktwice::visualize::VisualizeOptions;

#[test]
fn a_grown_image_is_classified_as_its_class() {
    let session = common::session();
    for class in [130, 282] {
        // flamingo, tiger cat
        let mut steps = Vec::new();
        let grown = pollster::block_on(session.visualize(class, &VisualizeOptions::default(), &mut |s| {
            steps.push((s.iteration, s.probability, s.picture.is_some()));
            Flow::Continue(())
        }))
        .unwrap();
        assert!(grown.probability >= 0.9, "class {class}: p = {}", grown.probability);
        assert!(steps[0].1 < 0.05, "class {class} at the start: p = {}", steps[0].1);
        assert_eq!(steps.len(), VisualizeOptions::default().iterations + 1);
        assert!(steps.iter().enumerate().all(|(i, s)| s.0 == i));
        assert!(steps.iter().filter(|s| s.2).count() >= 5, "frames carry pictures");
        // What is written (8-bit pixels, PNG) is still the class, read back as any photo is.
        let mut png = Vec::new();
        grown.picture.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).unwrap();
        let image = session.prepare_encoded(&png, Framing::Whole).unwrap();
        let p = pollster::block_on(session.classify(&image)).unwrap().probabilities[class];
        assert!(p >= 0.9, "class {class} read back from the PNG: p = {p}");
        // Not a flat grey: the picture has structure (pixel standard deviation over 8 levels).
        let values: Vec<f32> = grown.picture.as_raw().iter().map(|&v| v as f32).collect();
        let mean = values.iter().sum::<f32>() / values.len() as f32;
        let sd = (values.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / values.len() as f32).sqrt();
        assert!(sd > 8.0, "class {class}: pixel sd {sd}");
    }
}

#[test]
fn a_stop_cancels_and_bad_requests_are_refused() {
    let session = common::session();
    let mut seen = 0;
    let stopped = pollster::block_on(session.visualize(1, &VisualizeOptions::default(), &mut |_| {
        seen += 1;
        if seen == 3 { Flow::Break(()) } else { Flow::Continue(()) }
    }));
    assert!(matches!(stopped, Err(Error::Cancelled)), "{stopped:?}");
    assert_eq!(seen, 3);
    let bad_class = pollster::block_on(session.visualize(1000, &VisualizeOptions::default(), &mut |_| Flow::Continue(())));
    assert!(matches!(bad_class, Err(Error::UnknownClass { .. })), "{bad_class:?}");
    let no_steps = VisualizeOptions { iterations: 0, ..VisualizeOptions::default() };
    let refused = pollster::block_on(session.visualize(1, &no_steps, &mut |_| Flow::Continue(())));
    assert!(matches!(refused, Err(Error::BadArgument(_))), "{refused:?}");
}
