//! Class model visualisation (Simonyan et al. 2014, §2): the image the network finds most like a
//! class, found by gradient ascent on the class score `S_c(I) − λ‖I‖²` from a grey image. The
//! same backward pass that feedback uses, turned on the input instead of the gates. As in later
//! work (Yosinski et al. 2015), every step is taken at a random shift of the image (jitter) and
//! the image is blurred now and then, so that what grows are shapes rather than pixel noise.

use burn_tensor::{Device, Tensor};
use burn_tensor::activation::softmax;
use burn_tensor::module::conv2d;
use burn_tensor::ops::ConvOptions;
use image::RgbImage;
use web_time::Instant;

use crate::error::{Error, Result};
use crate::feedback::Flow;
use crate::geometry::INPUT_SIZE;
use crate::imaging::{PIXEL_MEAN, PIXEL_SCALE};
use crate::model::{EfficientNetLite0, Gates, Target, check_class};
use crate::tensors::{self, read_back};

/// Options of [`visualize`].
#[derive(Debug, Clone, PartialEq)]
pub struct VisualizeOptions {
    /// Gradient steps.
    pub iterations: usize,
    /// Step size, as the mean change of a pixel per step (input units: 1 ≈ 128 grey levels).
    pub step: f32,
    /// L2 decay λ: each step pulls the image towards grey by this fraction.
    pub l2: f32,
    /// Most pixels the image is shifted by, in each direction, before each step.
    pub jitter: usize,
    /// Blur the image every this many steps (0: never).
    pub blur_every: usize,
    /// Gaussian blur σ in pixels.
    pub blur_sigma: f32,
    /// Blur only during this fraction of the steps: the last steps sharpen what the blurred ones
    /// shaped, which is what makes the class win clearly.
    pub blur_until: f32,
    /// Take this last fraction of the steps unshifted: the picture reported is scored unshifted,
    /// and a picture only ever optimised under shifts can score far lower there (in the browser's
    /// arithmetic the flamingo's fell from p 1.000 on its shifted steps to 0.887 unshifted).
    pub settle: f32,
    /// Put the current picture into a step's record every this many steps (0: only the last).
    pub frame_every: usize,
    /// Seed of the jitter and the starting noise, so that a run can be repeated.
    pub seed: u64,
}

impl Default for VisualizeOptions {
    fn default() -> Self {
        Self { iterations: 150, step: 0.02, l2: 0.005, jitter: 8, blur_every: 4, blur_sigma: 0.5, blur_until: 1.0, settle: 0.1, frame_every: 10, seed: 1 }
    }
}

/// One step of a visualisation run.
#[derive(Debug, Clone, PartialEq)]
pub struct VisualizeStep {
    /// 0 for the starting image, then one per gradient step.
    pub iteration: usize,
    /// The class logit of the current image.
    pub score: f32,
    /// Its softmax probability.
    pub probability: f32,
    /// Milliseconds since the run started.
    pub elapsed_ms: f64,
    /// The current image (224×224 RGB), on the steps that carry one.
    pub picture: Option<RgbImage>,
}

/// The outcome of [`visualize`].
#[derive(Debug, Clone)]
pub struct Visualization {
    /// The final image, 224×224.
    pub picture: RgbImage,
    /// The class logit of the final image.
    pub score: f32,
    /// Softmax probability of the class for the final image.
    pub probability: f32,
    /// Every step (pictures dropped except on the steps that carried one).
    pub trace: Vec<VisualizeStep>,
}

/// The lowest and highest input values a real pixel (0…255) maps to.
const LOW: f32 = (0.0 - PIXEL_MEAN) / PIXEL_SCALE;
const HIGH: f32 = (255.0 - PIXEL_MEAN) / PIXEL_SCALE;

/// Grows the image of `class`; `observer` sees every step and may stop the run ([`Error::Cancelled`]).
pub async fn visualize(
    net: &EfficientNetLite0,
    class: usize,
    device: &Device,
    options: &VisualizeOptions,
    observer: &mut dyn FnMut(&VisualizeStep) -> Flow,
) -> Result<Visualization> {
    check_class(class)?;
    if options.iterations == 0 || options.step.is_nan() || options.step <= 0.0 || !(0.0..1.0).contains(&options.l2) {
        return Err(Error::BadArgument("visualize needs iterations ≥ 1, step > 0 and 0 ≤ l2 < 1".into()));
    }
    let started = Instant::now();
    let mut random = XorShift::new(options.seed);
    let n = INPUT_SIZE;
    // A grey start with a little noise, so that the first gradient is not the same everywhere.
    let noise: Vec<f32> = (0..3 * n * n).map(|_| (random.unit() - 0.5) * 0.1).collect();
    let mut image = tensors::input_tensor(noise, n, n, device)?;
    let blur = gaussian_kernel(options.blur_sigma, device);
    let mut trace = Vec::with_capacity(options.iterations + 1);
    let mut last = (0.0, 0.0);
    let mut finished = None;
    for iteration in 0..=options.iterations {
        let final_step = iteration == options.iterations;
        // The last pass scores the picture as it is, unshifted: the probability reported is the
        // picture's; the settling steps before it optimise that unshifted picture.
        let settling = iteration as f32 >= (1.0 - options.settle) * options.iterations as f32;
        let (dy, dx) = if final_step || settling { (0, 0) } else { (random.shift(options.jitter), random.shift(options.jitter)) };
        let shifted = roll(image.clone(), dy, dx);
        let grads = net.target_gradients(shifted, &Gates::open(), class, Target::Logit)?;
        let stats = Tensor::cat(vec![grads.logits.clone().narrow(1, class, 1).reshape([1]), softmax(grads.logits, 1).narrow(1, class, 1).reshape([1])], 0);
        let stats = read_back(stats).await?;
        last = (stats[0], stats[1]);
        let carries = final_step || (options.frame_every > 0 && iteration % options.frame_every == 0);
        let mut step = VisualizeStep {
            iteration,
            score: stats[0],
            probability: stats[1],
            elapsed_ms: started.elapsed().as_secs_f64() * 1e3,
            picture: if carries { Some(to_picture(&image).await?) } else { None },
        };
        let flow = observer(&step);
        if flow.is_break() {
            return Err(Error::Cancelled);
        }
        let picture = step.picture.take();
        trace.push(step);
        if final_step {
            // The final step carries the finished picture: hand it on rather than render it again.
            finished = picture;
            break;
        }
        // Ascend on S_c − λ‖I‖²: a normalised gradient step (its size does not depend on how
        // steep S_c is here), then the decay towards grey, then keep pixels real.
        let g = roll(grads.input, n - dy, n - dx);
        let scale = g.clone().abs().mean().clamp_min(1e-12).reshape([1, 1, 1, 1]);
        let g = g / scale.expand([1, 3, n, n]);
        image = (image * (1.0 - options.l2 as f64) + g * options.step as f64).clamp(LOW, HIGH);
        let blurring = (iteration as f32) < options.blur_until * options.iterations as f32;
        if blurring && options.blur_every > 0 && (iteration + 1) % options.blur_every == 0 {
            image = conv2d(image, blur.clone(), None, ConvOptions::new([1, 1], [2, 2], [1, 1], 3));
        }
        crate::backend::yield_now().await;
    }
    let picture = match finished {
        Some(picture) => picture,
        None => to_picture(&image).await?,
    };
    Ok(Visualization { picture, score: last.0, probability: last.1, trace })
}

/// Shifts the image cyclically down by `dy` and right by `dx` pixels.
fn roll(x: Tensor<4>, dy: usize, dx: usize) -> Tensor<4> {
    let [_, _, h, w] = x.dims();
    let (dy, dx) = (dy % h, dx % w);
    let x = if dy == 0 { x } else { Tensor::cat(vec![x.clone().narrow(2, h - dy, dy), x.narrow(2, 0, h - dy)], 2) };
    if dx == 0 { x } else { Tensor::cat(vec![x.clone().narrow(3, w - dx, dx), x.narrow(3, 0, w - dx)], 3) }
}

/// A 5×5 Gaussian per colour channel, as a depthwise convolution kernel `[3, 1, 5, 5]`.
fn gaussian_kernel(sigma: f32, device: &Device) -> Tensor<4> {
    let sigma = sigma.max(1e-3);
    let taps: Vec<f32> = (-2..=2).map(|i: i32| (-(i * i) as f32 / (2.0 * sigma * sigma)).exp()).collect();
    let sum: f32 = taps.iter().sum();
    let mut kernel = Vec::with_capacity(3 * 25);
    for _ in 0..3 {
        for a in &taps {
            for b in &taps {
                kernel.push(a * b / (sum * sum));
            }
        }
    }
    Tensor::from_data(burn_tensor::TensorData::new(kernel, [3, 1, 5, 5]), device)
}

/// The input tensor as a picture: back from input units to 0…255.
async fn to_picture(image: &Tensor<4>) -> Result<RgbImage> {
    let n = INPUT_SIZE;
    let values = read_back(image.clone().reshape([3, n * n])).await?;
    let pixel = |c: usize, i: usize| (values[c * n * n + i] * PIXEL_SCALE + PIXEL_MEAN).round().clamp(0.0, 255.0) as u8;
    Ok(RgbImage::from_fn(n as u32, n as u32, |x, y| {
        let i = y as usize * n + x as usize;
        image::Rgb([pixel(0, i), pixel(1, i), pixel(2, i)])
    }))
}

/// A small seeded generator (xorshift64*): the jitter need not be good randomness, only repeatable.
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// A cyclic shift of 0…2·most pixels (2·most + 1 positions, as a shift of ±most would give).
    fn shift(&mut self, most: usize) -> usize {
        (self.next() % (2 * most as u64 + 1)) as usize
    }
}
