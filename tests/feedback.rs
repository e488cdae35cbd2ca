//! Backward rules, feedback inference and localization on real photos.

mod common;

use burn_tensor::{Device, Tensor, TensorData};
use thinktwice::feedback::{self, FeedbackOptions, Flow, Tracer, rules};
use thinktwice::geometry::{Framing, INPUT_SIZE};
use thinktwice::model::Keep;
use thinktwice::tensors::{self, read_back};
use thinktwice::saliency::{self, Method, Readout, SaliencyOptions};
use thinktwice::ExplainOptions;

fn t(values: &[f32]) -> Tensor<4> {
    Tensor::from_data(TensorData::new(values.to_vec(), [1, values.len(), 1, 1]), &Device::flex())
}

fn host(x: Tensor<4>) -> Vec<f32> {
    pollster::block_on(read_back(x)).unwrap()
}

#[test]
fn each_backward_rule_equals_its_definition() {
    // pre-activations: below 0, inside, saturated above 6, inside; incoming gradients of both signs.
    let pre = t(&[-1.0, 2.0, 7.0, 3.0]);
    let g = t(&[0.5, -2.0, 1.0, 3.0]);
    let z = t(&[1.0, 0.0, 1.0, 1.0]);
    assert_eq!(host(rules::gradient(g.clone(), &pre)), [0.0, -2.0, 0.0, 3.0]);
    assert_eq!(host(rules::gated(g.clone(), &pre, &z)), [0.0, 0.0, 0.0, 3.0]);
    assert_eq!(host(rules::under_gates(g.clone(), &pre, Some(&z))), [0.0, 0.0, 0.0, 3.0]);
    assert_eq!(host(rules::under_gates(g.clone(), &pre, None)), [0.0, -2.0, 0.0, 3.0]);
    assert_eq!(host(rules::deconvnet(g.clone())), [0.5, 0.0, 1.0, 3.0]);
    assert_eq!(host(rules::guided(g.clone(), &pre)), [0.0, 0.0, 0.0, 3.0]);
    // select: mean of positive g is (0.5 + 1 + 3) / 3 = 1.5; r = 1 keeps g ≥ 1.5.
    assert_eq!(host(rules::select(&g, 1.0, 0)), [0.0, 0.0, 0.0, 1.0]);
    assert_eq!(host(rules::select(&g, 0.3, 0)), [1.0, 0.0, 1.0, 1.0]);
}

#[test]
fn rules_compose_on_a_tiny_two_layer_net() {
    // S = w2 · (z ⊙ relu6(W1 x)), x ∈ R², three hidden units; checked against hand algebra.
    let w1 = [[1.0f32, -1.0], [2.0, 1.0], [-3.0, 0.5]];
    let w2 = [1.0f32, -2.0, 4.0];
    let x = [1.0f32, 2.0];
    let pre: Vec<f32> = w1.iter().map(|r| r[0] * x[0] + r[1] * x[1]).collect(); // [-1, 4, -2]
    assert_eq!(pre, [-1.0, 4.0, -2.0]);
    let back = |g_pre: Vec<f32>| -> [f32; 2] {
        [0, 1].map(|j| (0..3).map(|i| w1[i][j] * g_pre[i]).sum())
    };
    let g_out = t(&w2);
    let pre_t = t(&pre);
    // Plain gradient: only unit 1 is active → W1[1] · w2[1] = [2, 1] · −2.
    assert_eq!(back(host(rules::gradient(g_out.clone(), &pre_t))), [-4.0, -2.0]);
    // Deconvnet ignores the forward mask: positive w2 entries 0 and 2 pass.
    assert_eq!(back(host(rules::deconvnet(g_out.clone()))), [1.0 - 12.0, -1.0 + 2.0]);
    // Guided: active and positive: none.
    assert_eq!(back(host(rules::guided(g_out.clone(), &pre_t))), [0.0, 0.0]);
    // Gated with unit 1 closed: nothing flows.
    assert_eq!(back(host(rules::gated(g_out, &pre_t, &t(&[1.0, 0.0, 1.0])))), [0.0, 0.0]);
    // And the plain rule is the true derivative: finite difference of S along x₀.
    let s = |x0: f32| -> f32 {
        (0..3).map(|i| w2[i] * (w1[i][0] * x0 + w1[i][1] * x[1]).clamp(0.0, 6.0)).sum()
    };
    assert!(((s(1.001) - s(0.999)) / 0.002 - -4.0).abs() < 1e-2);
}

#[test]
fn gradient_saliency_of_chelsea_matches_the_golden_gradient() {
    let Some(dir) = common::golden_dir() else { return };
    let device = Device::flex();
    let net = common::model(&device);
    let input = common::read_f32(dir.join("chelsea.input.f32"));
    let x = tensors::input_tensor(input, INPUT_SIZE, INPUT_SIZE, &device).unwrap();
    let s = pollster::block_on(saliency::saliency(&net, x, 282, Method::Gradient, &SaliencyOptions::default(), &mut |_| Flow::Continue(()))).unwrap();
    let g = common::read_f32(dir.join("chelsea.grad_class282.f32"));
    let plane = INPUT_SIZE * INPUT_SIZE;
    let want: Vec<f32> = (0..plane).map(|i| g[i].abs().max(g[plane + i].abs()).max(g[2 * plane + i].abs())).collect();
    let err = common::rel_l2(&s.map.values, &want);
    println!("gradient saliency vs golden: rel L2 {err:.2e}");
    assert!(err < 1e-3, "{err}");
}

fn cat_and_coffee() -> Option<image::RgbImage> {
    let samples = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("pkg/samples");
    let (Some(cat), Ok(cup)) = (common::cat_photo(), image::open(samples.join("coffee.png"))) else {
        common::missing("the sample photos pkg/samples/{chelsea,coffee}.png", "run scripts/samples.sh");
        return None;
    };
    let (cat, cup) = (image::open(cat).ok()?.to_rgb8(), cup.to_rgb8());
    let cat = image::imageops::resize(&cat, 300, 300, image::imageops::FilterType::Triangle);
    let cup = image::imageops::resize(&cup, 300, 300, image::imageops::FilterType::Triangle);
    let mut both = image::RgbImage::new(600, 300);
    image::imageops::replace(&mut both, &cat, 0, 0);
    image::imageops::replace(&mut both, &cup, 300, 0);
    Some(both)
}

#[test]
fn feedback_puts_each_class_on_its_own_object() {
    let Some(image) = cat_and_coffee() else { return };
    let session = common::session();
    let prepared = session.prepare(image, Framing::Whole).unwrap();
    for method in Method::ALL {
        let options = ExplainOptions::new(method);
        let found = pollster::block_on(session.explain(&prepared, &[282, 967], &options, &mut |_| Flow::Continue(()))).unwrap();
        let (cat, cup) = (&found[0], &found[1]);
        println!("{}: cat peak {:?} box {:?}; cup peak {:?} box {:?}", method.name(), cat.peak, cat.bbox, cup.peak, cup.bbox);
        // Plain gradients are not class-specific (the cat's gradient can peak on the cup); the
        // feedback variants and CAM must be.
        if method.is_feedback() || matches!(method, Method::Cam | Method::GradCam) {
            assert!(cat.peak.0 < 300.0, "{}: tiger cat peak {:?} is on the coffee", method.name(), cat.peak);
            assert!(cup.peak.0 >= 300.0, "{}: espresso peak {:?} is on the cat", method.name(), cup.peak);
        }
        if method.is_feedback() {
            assert!(!cat.trace.is_empty() && cat.trace.iter().all(|r| r.open_fraction.len() == 33));
        }
        // The default feedback also puts each class's *box* on its own object: at least 80% of
        // the box lies on its own half of the picture (CAM's boxes span both).
        if method == Method::FEEDBACK {
            let share_left = |b: &thinktwice::geometry::BBox| ((b.x1.min(300.0) - b.x0).max(0.0)) / (b.x1 - b.x0);
            let (cat_box, cup_box) = (cat.bbox.expect("a cat box"), cup.bbox.expect("a cup box"));
            assert!(share_left(&cat_box) >= 0.8, "feedback: tiger cat box {cat_box:?} is not on the cat");
            assert!(share_left(&cup_box) <= 0.2, "feedback: espresso box {cup_box:?} is not on the cup");
        }
    }
}

/// Every read-out (`--readout`), on the gates look twice infers: each puts each class on its own
/// object, and no two of them give the same map.
#[test]
fn every_readout_puts_each_class_on_its_own_object() {
    let Some(image) = cat_and_coffee() else { return };
    let session = common::session();
    let prepared = session.prepare(image, Framing::Whole).unwrap();
    let mut maps: Vec<(Readout, Vec<f32>)> = Vec::new();
    for readout in Readout::ALL {
        let mut options = ExplainOptions::new(Method::FeedbackTwice);
        options.saliency.readout = Some(readout);
        let found = pollster::block_on(session.explain(&prepared, &[282, 967], &options, &mut |_| Flow::Continue(()))).unwrap();
        let (cat, cup) = (&found[0], &found[1]);
        println!("{}: cat peak {:?}; cup peak {:?}", readout.name(), cat.peak, cup.peak);
        assert!(cat.map.max() > 0.0 && cup.map.max() > 0.0, "{}: an empty map", readout.name());
        // Mass on the object's own half: more than half of each map's.
        let left = |m: &thinktwice::map::Map| {
            let total: f32 = m.values.iter().map(|v| v.max(0.0)).sum();
            let on_left: f32 = m.values.iter().enumerate().filter(|(i, _)| i % m.width < m.width / 2).map(|(_, v)| v.max(0.0)).sum();
            on_left / total
        };
        assert!(left(&cat.map) > 0.5, "{}: the tiger cat's map has {:.2} of its mass on the cat", readout.name(), left(&cat.map));
        assert!(left(&cup.map) < 0.5, "{}: the espresso's map has {:.2} of its mass on the cat", readout.name(), left(&cup.map));
        maps.push((readout, cat.map.values.clone()));
    }
    for (i, (a, ma)) in maps.iter().enumerate() {
        for (b, mb) in &maps[i + 1..] {
            assert!(common::rel_l2(ma, mb) > 1e-3, "read-outs {} and {} give the same map", a.name(), b.name());
        }
    }
}

#[test]
fn look_twice_iterates_with_rising_probability_and_gates_in_several_layers() {
    let Some(photo) = common::cat_photo() else { return };
    let session = common::session();
    let image = session.prepare_encoded(&std::fs::read(photo).unwrap(), Framing::Whole).unwrap();
    for class in [282, 281, 285] {
        let run = pollster::block_on(feedback::twice(session.model(), image.input().clone(), class, &FeedbackOptions::default(), &mut Tracer::silent())).unwrap();
        let p: Vec<f32> = run.trace.iter().map(|r| r.probability).collect();
        println!("look twice, class {class}: p {p:?}, open {:?}", run.trace.last().unwrap().open_fraction[30..].to_vec());
        // Unlikely classes take several steps to win; a likely one (285, p = 0.79) may need one.
        let least = if class == 285 { 2 } else { 4 };
        assert!(run.trace.len() >= least, "class {class}: {} records (≥ {} iterations after the first)", run.trace.len(), least - 1);
        assert!(p.windows(2).all(|w| w[1] > w[0]), "class {class}: p must rise at every iteration: {p:?}");
        let changed = run.trace.last().unwrap().open_fraction.iter().filter(|&&f| f < 1.0).count();
        assert!(changed >= 2, "class {class}: gates changed in {changed} layers");
    }
}

#[test]
fn hard_feedback_never_lowers_the_score() {
    let Some(image) = cat_and_coffee() else { return };
    let session = common::session();
    let net = session.model();
    let samples = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("pkg/samples");
    let astronaut = image::open(samples.join("astronaut.png")).unwrap().to_rgb8();
    let mirrored = image::imageops::flip_horizontal(&image);
    let options = FeedbackOptions { max_iterations: 2, ..FeedbackOptions::default() };
    let (mut runs, mut moved) = (0, 0);
    for picture in [image, mirrored, astronaut] {
        let prepared = session.prepare(picture, Framing::Whole).unwrap();
        let x = prepared.input().clone();
        let scores = pollster::block_on(session.classify(&prepared)).unwrap();
        // The top classes and a few unlikely ones.
        let mut classes: Vec<usize> = tensors::top_k(&scores.probabilities, 4).into_iter().map(|(c, _)| c).collect();
        classes.extend([1, 404, 999]);
        for class in classes {
            let mut scores = Vec::new();
            let mut tracer = Tracer::new(|r| {
                scores.push(r.score);
                Flow::Continue(())
            });
            let run = pollster::block_on(feedback::hard(net, x.clone(), class, &options, &mut tracer)).unwrap();
            drop(tracer);
            assert!(scores.windows(2).all(|w| w[1] >= w[0]), "class {class}: scores {scores:?}");
            assert_eq!(run.trace.len(), scores.len());
            runs += 1;
            // A run whose every step was refused would check nothing above: count the steps kept.
            moved += usize::from(scores.len() >= 2 && scores.last() > scores.first());
        }
    }
    assert!(runs >= 20, "{runs} runs");
    assert!(moved * 2 >= runs, "only {moved} of {runs} runs kept a step that raised the score");
}

#[test]
fn soft_feedback_raises_the_score_and_closes_gates() {
    let Some(photo) = common::cat_photo() else { return };
    let session = common::session();
    let net = session.model();
    let x = session.prepare_encoded(&std::fs::read(photo).unwrap(), Framing::Whole).unwrap().input().clone();
    let maps = std::cell::Cell::new(0);
    let mut tracer = Tracer::new(|r| {
        assert_eq!(r.map.as_ref().map(Vec::len), Some(INPUT_SIZE * INPUT_SIZE));
        maps.set(maps.get() + 1);
        Flow::Continue(())
    })
    .with_maps(|gates| Ok(net.forward_gated(x.clone(), gates, Keep::Everything).outputs[32].clone().sum_dim(1)
        .repeat_dim(2, 32).repeat_dim(3, 32)));
    let run = pollster::block_on(feedback::soft(net, x.clone(), 282, &FeedbackOptions::default(), &mut tracer)).unwrap();
    drop(tracer);
    assert_eq!(maps.get(), run.trace.len());
    let (first, last) = (run.trace.first().unwrap(), run.trace.last().unwrap());
    println!("soft: S {} → {} in {} iterations, open {:?}", first.score, last.score, run.trace.len(), last.open_fraction);
    assert!(last.score > first.score);
    assert!(last.open_fraction.iter().any(|&f| f < 0.9));
    assert!(first.open_fraction.iter().all(|&f| f == 1.0));
}

#[test]
fn fsp_can_keep_saturated_neurons_when_asked() {
    let Some(photo) = common::cat_photo() else { return };
    let session = common::session();
    let net = session.model();
    let x = session.prepare_encoded(&std::fs::read(photo).unwrap(), Framing::Whole).unwrap().input().clone();
    let head_pre = net.forward_gated(x.clone(), &thinktwice::model::Gates::open(), Keep::PreActivations).pre_activations[32].clone();
    let saturated = head_pre.greater_equal_elem(6.0).float();
    let open_saturated = |select_saturated: bool| {
        let options = FeedbackOptions { select_saturated, ..FeedbackOptions::default() };
        let run = pollster::block_on(feedback::fsp(net, x.clone(), 282, &options, &mut Tracer::silent())).unwrap();
        host((run.gates.get(32).unwrap().clone() * saturated.clone()).sum().reshape([1, 1, 1, 1]))[0]
    };
    // The authors' rule selects on the pre-activation gradient, which ReLU6 zeroes at saturation.
    assert_eq!(open_saturated(false), 0.0);
    assert!(open_saturated(true) > 0.0);
}

/// The tabby cat photo, small, in a corner of a larger grey picture: (picture, the cat's box).
fn small_cat_in_a_corner() -> Option<(image::RgbImage, thinktwice::geometry::BBox)> {
    let cat = common::cat_photo()?;
    let cat = image::imageops::resize(&image::open(cat).ok()?.to_rgb8(), 180, 120, image::imageops::FilterType::Triangle);
    let mut picture = image::RgbImage::from_pixel(640, 480, image::Rgb([150, 150, 150]));
    image::imageops::replace(&mut picture, &cat, 400, 300);
    Some((picture, thinktwice::geometry::BBox { x0: 400.0, y0: 300.0, x1: 580.0, y1: 420.0 }))
}

#[test]
fn the_second_look_tightens_the_box_on_a_small_object() {
    let Some((picture, truth)) = small_cat_in_a_corner() else { return };
    let session = common::session();
    let prepared = session.prepare(picture, Framing::Whole).unwrap();
    let mut frames = Vec::new();
    let found = pollster::block_on(session.explain(
        &prepared,
        &[281],
        &ExplainOptions { frame_map_size: Some((56, 56)), ..ExplainOptions::default() },
        &mut |f| {
            frames.push(f.clone());
            Flow::Continue(())
        },
    ))
    .unwrap()
    .remove(0);
    let first = found.looks[0].bbox.expect("a first-look box");
    let last = found.bbox.expect("a box after the closer looks");
    println!("looks {:?}\nfirst {first:?} IoU {:.3}; last {last:?} IoU {:.3}", found.looks, first.iou(&truth), last.iou(&truth));
    assert!(found.looks.len() >= 2, "at least one closer look: {:?}", found.looks);
    // The closer looks saw crops around the cat, each smaller than the one before.
    assert!(found.looks.windows(2).all(|w| w[1].region.area() < w[0].region.area()), "crops shrink: {:?}", found.looks);
    let crop = found.looks.last().unwrap().region;
    assert!(crop.area() < 0.5 * 640.0 * 480.0 && crop.distance_to(490.0, 360.0) == 0.0, "last crop {crop:?} is not around the cat");
    // Its box is tighter, lies in the cat's quarter, and fits the cat better than the first.
    assert!(last.area() < first.area(), "last box {last:?} is not tighter than the first {first:?}");
    let (cx, cy) = ((last.x0 + last.x1) / 2.0, (last.y0 + last.y1) / 2.0);
    assert!(cx >= 320.0 && cy >= 240.0, "last box {last:?} is not on the cat's quarter");
    assert!(last.iou(&truth) > first.iou(&truth), "IoU with the cat: last {} ≤ first {}", last.iou(&truth), first.iou(&truth));
    // The frames follow the looks: each says which look and where it looked, in order.
    assert!(frames.windows(2).all(|w| w[1].look >= w[0].look && w[1].iteration == w[0].iteration + 1), "frames in order");
    assert_eq!(frames.last().unwrap().look, found.looks.len() - 1);
    assert_eq!(frames.last().unwrap().region, found.looks.last().unwrap().region);
}
