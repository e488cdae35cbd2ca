//! Colour segmentation seeded from a saliency map, GrabCut-style (Rother et al. 2004): colour
//! GMMs for object and background, a contrast-sensitive Potts smoothness term, and a minimum
//! graph cut, iterated. Pixels where the map is low are fixed to background.

use image::RgbImage;

use crate::map::Map;

/// Settings of [`segment`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GrabCutOptions {
    /// Map level (fraction of max) below which a pixel is certainly background.
    pub background: f32,
    /// Map level at or above which a pixel starts as object.
    pub object: f32,
    /// Gaussians per colour model.
    pub components: usize,
    /// Smoothness weight γ.
    pub smoothness: f32,
    /// Re-estimation rounds.
    pub rounds: usize,
}

impl Default for GrabCutOptions {
    fn default() -> Self {
        Self { background: 0.1, object: 0.4, components: 5, smoothness: 25.0, rounds: 3 }
    }
}

/// Object mask (row-major, the map's size) from `image` (resized to the map's size) and `map`.
pub fn segment(image: &RgbImage, map: &Map, options: &GrabCutOptions) -> Vec<bool> {
    let (w, h) = (map.width, map.height);
    let image = if image.dimensions() == (w as u32, h as u32) {
        image.clone()
    } else {
        image::imageops::resize(image, w as u32, h as u32, image::imageops::FilterType::Triangle)
    };
    let colours: Vec<[f32; 3]> = image.pixels().map(|p| p.0.map(f32::from)).collect();
    let map = map.normalised();
    let fixed_bg: Vec<bool> = map.values.iter().map(|&v| v < options.background).collect();
    let mut object: Vec<bool> = map.values.iter().map(|&v| v >= options.object).collect();
    if object.iter().all(|&o| !o) || fixed_bg.iter().all(|&b| !b) {
        return object;
    }
    let beta = contrast_beta(&colours, w, h);
    for _ in 0..options.rounds.max(1) {
        let fg = Gmm::fit(colours.iter().zip(&object).filter(|(_, o)| **o).map(|(c, _)| *c), options.components);
        let bg = Gmm::fit(colours.iter().zip(&object).filter(|(_, o)| !**o).map(|(c, _)| *c), options.components);
        let (Some(fg), Some(bg)) = (fg, bg) else { break };
        let n = w * h;
        let (source, sink) = (n, n + 1);
        let mut graph = FlowGraph::new(n + 2);
        for i in 0..n {
            if fixed_bg[i] {
                graph.add_edge(i, sink, f32::INFINITY, 0.0);
                continue;
            }
            // Cost of calling pixel i object (−log p_fg) and background (−log p_bg).
            let (cost_fg, cost_bg) = (-fg.log_density(&colours[i]), -bg.log_density(&colours[i]));
            let base = cost_fg.min(cost_bg);
            graph.add_edge(source, i, cost_bg - base, 0.0);
            graph.add_edge(i, sink, cost_fg - base, 0.0);
        }
        for y in 0..h {
            for x in 0..w {
                let i = y * w + x;
                for j in [(x + 1 < w).then(|| i + 1), (y + 1 < h).then(|| i + w)].into_iter().flatten() {
                    let d = dist2(&colours[i], &colours[j]);
                    let v = options.smoothness * (-beta * d).exp();
                    graph.add_edge(i, j, v, v);
                }
            }
        }
        graph.max_flow(source, sink);
        let side = graph.source_side(source);
        let next: Vec<bool> = (0..n).map(|i| side[i]).collect();
        if next == object {
            break;
        }
        object = next;
        if object.iter().all(|&o| !o) {
            break;
        }
    }
    object
}

fn dist2(a: &[f32; 3], b: &[f32; 3]) -> f32 {
    (0..3).map(|k| (a[k] - b[k]).powi(2)).sum()
}

/// β = 1 / (2 ⟨‖c_p − c_q‖²⟩) over neighbouring pixels.
fn contrast_beta(colours: &[[f32; 3]], w: usize, h: usize) -> f32 {
    let (mut sum, mut count) = (0.0f64, 0usize);
    for y in 0..h {
        for x in 0..w {
            let i = y * w + x;
            if x + 1 < w {
                sum += dist2(&colours[i], &colours[i + 1]) as f64;
                count += 1;
            }
            if y + 1 < h {
                sum += dist2(&colours[i], &colours[i + w]) as f64;
                count += 1;
            }
        }
    }
    if sum > 0.0 { (count as f64 / (2.0 * sum)) as f32 } else { 0.0 }
}

/// A Gaussian mixture over RGB with diagonal covariances, fitted by k-means.
struct Gmm {
    weights: Vec<f32>,
    means: Vec<[f32; 3]>,
    variances: Vec<[f32; 3]>,
}

impl Gmm {
    fn fit(samples: impl Iterator<Item = [f32; 3]>, k: usize) -> Option<Gmm> {
        let samples: Vec<[f32; 3]> = samples.collect();
        if samples.is_empty() {
            return None;
        }
        let k = k.clamp(1, samples.len());
        // Deterministic start: samples spread over the brightness order.
        let mut order: Vec<usize> = (0..samples.len()).collect();
        order.sort_by(|&a, &b| samples[a].iter().sum::<f32>().total_cmp(&samples[b].iter().sum::<f32>()));
        let mut means: Vec<[f32; 3]> = (0..k).map(|j| samples[order[(2 * j + 1) * samples.len() / (2 * k)]]).collect();
        let mut assign = vec![0usize; samples.len()];
        for _ in 0..8 {
            for (s, a) in samples.iter().zip(assign.iter_mut()) {
                *a = (0..k).min_by(|&x, &y| dist2(s, &means[x]).total_cmp(&dist2(s, &means[y]))).unwrap();
            }
            let mut sums = vec![[0.0f32; 3]; k];
            let mut counts = vec![0usize; k];
            for (s, &a) in samples.iter().zip(&assign) {
                (0..3).for_each(|c| sums[a][c] += s[c]);
                counts[a] += 1;
            }
            for j in 0..k {
                if counts[j] > 0 {
                    means[j] = sums[j].map(|v| v / counts[j] as f32);
                }
            }
        }
        let mut variances = vec![[0.0f32; 3]; k];
        let mut counts = vec![0usize; k];
        for (s, &a) in samples.iter().zip(&assign) {
            (0..3).for_each(|c| variances[a][c] += (s[c] - means[a][c]).powi(2));
            counts[a] += 1;
        }
        let weights = counts.iter().map(|&c| c as f32 / samples.len() as f32).collect();
        let variances = variances.iter().zip(&counts).map(|(v, &c)| v.map(|x| x / c.max(1) as f32 + 4.0)).collect();
        Some(Gmm { weights, means, variances })
    }

    fn log_density(&self, c: &[f32; 3]) -> f32 {
        let mut p = 0.0f64;
        for j in 0..self.weights.len() {
            if self.weights[j] == 0.0 {
                continue;
            }
            let mut e = 0.0f64;
            let mut norm = 1.0f64;
            for ((&ck, &mean), &variance) in c.iter().zip(&self.means[j]).zip(&self.variances[j]) {
                let v = variance as f64;
                e += ((ck - mean) as f64).powi(2) / v;
                norm *= 2.0 * std::f64::consts::PI * v;
            }
            p += self.weights[j] as f64 * (-0.5 * e).exp() / norm.sqrt();
        }
        p.max(1e-30).ln() as f32
    }
}

/// A flow network for minimum cuts (Dinic's algorithm).
struct FlowGraph {
    head: Vec<usize>,
    next: Vec<usize>,
    to: Vec<usize>,
    cap: Vec<f32>,
}

const NONE: usize = usize::MAX;

impl FlowGraph {
    fn new(nodes: usize) -> Self {
        Self { head: vec![NONE; nodes], next: Vec::new(), to: Vec::new(), cap: Vec::new() }
    }

    /// Adds `a → b` with capacity `forward` and `b → a` with `backward` (paired residual edges).
    fn add_edge(&mut self, a: usize, b: usize, forward: f32, backward: f32) {
        for (from, to, cap) in [(a, b, forward), (b, a, backward)] {
            self.to.push(to);
            self.cap.push(cap);
            self.next.push(self.head[from]);
            self.head[from] = self.to.len() - 1;
        }
    }

    fn levels(&self, source: usize) -> Vec<usize> {
        let mut level = vec![NONE; self.head.len()];
        let mut queue = std::collections::VecDeque::from([source]);
        level[source] = 0;
        while let Some(u) = queue.pop_front() {
            let mut e = self.head[u];
            while e != NONE {
                if self.cap[e] > 1e-6 && level[self.to[e]] == NONE {
                    level[self.to[e]] = level[u] + 1;
                    queue.push_back(self.to[e]);
                }
                e = self.next[e];
            }
        }
        level
    }

    fn max_flow(&mut self, source: usize, sink: usize) {
        loop {
            let level = self.levels(source);
            if level[sink] == NONE {
                return;
            }
            let mut current = self.head.clone();
            // Iterative DFS for blocking flow: a path of edge ids from the source.
            let mut path: Vec<usize> = Vec::new();
            let mut u = source;
            loop {
                if u == sink {
                    let push = path.iter().map(|&e| self.cap[e]).fold(f32::INFINITY, f32::min);
                    for &e in &path {
                        self.cap[e] -= push;
                        self.cap[e ^ 1] += push;
                    }
                    // Restart from the tail of the first saturated edge.
                    let cut = path.iter().position(|&e| self.cap[e] <= 1e-6).unwrap_or(0);
                    path.truncate(cut);
                    u = if cut == 0 { source } else { self.to[path[cut - 1]] };
                    continue;
                }
                let mut advanced = false;
                while current[u] != NONE {
                    let e = current[u];
                    let v = self.to[e];
                    if self.cap[e] > 1e-6 && level[v] == level[u] + 1 {
                        path.push(e);
                        u = v;
                        advanced = true;
                        break;
                    }
                    current[u] = self.next[e];
                }
                if advanced {
                    continue;
                }
                // Dead end: retreat.
                match path.pop() {
                    Some(e) => {
                        u = self.to[e ^ 1];
                        current[u] = self.next[current[u]];
                    }
                    None => break,
                }
            }
        }
    }

    /// Nodes reachable from the source in the residual graph (the object side of the cut).
    fn source_side(&self, source: usize) -> Vec<bool> {
        self.levels(source).iter().map(|&l| l != NONE).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_cut_of_a_small_network() {
        // s=0, t=3: s→1 (3), s→2 (2), 1→2 (1), 1→t (2), 2→t (3): max flow 5.
        let mut g = FlowGraph::new(4);
        for (a, b, c) in [(0, 1, 3.0), (0, 2, 2.0), (1, 2, 1.0), (1, 3, 2.0), (2, 3, 3.0)] {
            g.add_edge(a, b, c, 0.0);
        }
        g.max_flow(0, 3);
        let outflow: f32 = [0usize, 2].iter().map(|&e| 0.0f32.max(if e == 0 { 3.0 } else { 2.0 } - g.cap[e])).sum();
        assert!((outflow - 5.0).abs() < 1e-5);
        assert_eq!(g.source_side(0), vec![true, false, false, false]);
    }

    #[test]
    fn segments_a_coloured_square_from_a_rough_map() {
        // A red square on a noisy green-grey background; the map covers it only roughly.
        let (w, h) = (48, 48);
        let image = RgbImage::from_fn(w, h, |x, y| {
            if (12..36).contains(&x) && (16..40).contains(&y) {
                image::Rgb([200, 30, 30])
            } else {
                let n = ((x * 7 + y * 13) % 20) as u8;
                image::Rgb([90 + n, 110 + n, 90 + n])
            }
        });
        let values = (0..(w * h) as usize)
            .map(|i| {
                let (x, y) = ((i % w as usize) as f32, (i / w as usize) as f32);
                (-((x - 22.0).powi(2) + (y - 26.0).powi(2)) / 150.0).exp()
            })
            .collect();
        let mask = segment(&image, &Map::new(values, w as usize, h as usize).unwrap(), &GrabCutOptions::default());
        let b = super::super::largest_component_box(&mask, w as usize, h as usize).unwrap();
        let truth = super::super::BBox { x0: 12.0, y0: 16.0, x1: 36.0, y1: 40.0 };
        assert!(b.iou(&truth) > 0.9, "{b:?}");
    }
}
