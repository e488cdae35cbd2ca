#!/usr/bin/env node
// The browser engine's numbers, as a visitor's headless Chromium gets them (README, "Size and
// speed"): download sizes (gzip -9), then per backend what www/bench.html measures (model load,
// forward, forward + backward, each method's run and iteration, wasm memory over 50 runs).
//
//   node scripts/bench-web.mjs [--label L] [--runs N] [--backends cpu,gpu] [--memory cpu=feedback,gpu=cam] [--json OUT]
//
// PKG=dir serves the wasm and its JS glue from dir instead of pkg/ (scripts/wasm-profiles.sh).
// Last, WebAssembly's own multiply-add peak in the same browser (bench/simd-peak, built here for
// wasm32 with cargo): what the CPU-wasm forward pass's rate is a share of.
import { execFileSync } from "node:child_process";
import { readFile, readdir, writeFile } from "node:fs/promises";
import { gzipSync } from "node:zlib";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { ROOT, launch, serve } from "../tests/web/harness.mjs";

const { values: args } = parseArgs({
  options: {
    label: { type: "string", default: "pkg" },
    runs: { type: "string", default: "10" },
    backends: { type: "string", default: "cpu" },
    memory: { type: "string", default: "" }, // "cpu=feedback,gpu=cam": explain method per backend for the 50-run memory check
    json: { type: "string" }, // write every figure here
  },
});
const PKG = process.env.PKG ?? "pkg";
const runs = Number(args.runs);

const gz = (bytes) => gzipSync(bytes, { level: 9 }).length;
const mb = (n) => (n / 1e6).toFixed(2);
async function sizes() {
  const wasm = await readFile(join(ROOT, PKG, "thinktwice_bg.wasm"));
  const glue = await readFile(join(ROOT, PKG, "thinktwice.js"));
  const weights = await readFile(join(ROOT, "pkg/efficientnet-lite0.f16.safetensors"));
  const page = [];
  for (const f of ["index.html", "pkg/manifest.json", "pkg/samples/chelsea.png"]) page.push(await readFile(join(ROOT, f)));
  for (const f of await readdir(join(ROOT, "www"))) if (/\.(js|css)$/.test(f) && f !== "bench.js") page.push(await readFile(join(ROOT, "www", f)));
  const pageGz = page.reduce((n, b) => n + gz(b), 0);
  const first = gz(wasm) + gz(glue) + gz(weights) + pageGz;
  console.log(`[${args.label}] wasm ${mb(wasm.length)} MB raw, ${mb(gz(wasm))} MB gzip; JS glue ${mb(gz(glue))} MB gzip; ` +
    `f16 weights ${mb(weights.length)} MB raw, ${mb(gz(weights))} MB gzip; page, JS, CSS and sample ${mb(pageGz)} MB gzip; ` +
    `first visit ${mb(first)} MB gzip`);
}

await sizes();
const { server, base } = await serve((path) => {
  if (PKG !== "pkg" && /^pkg\/thinktwice(_bg\.wasm|\.js)$/.test(path)) return { path: path.replace(/^pkg/, PKG) };
  return null;
});
const browser = await launch();
const report = {};
try {
  for (const backend of args.backends.split(",")) {
    const page = await browser.newPage();
    const memoryMethod = Object.fromEntries(args.memory.split(",").filter(Boolean).map((kv) => kv.split("=")))[backend] ?? "";
    // SwiftShader's emulated GPU takes seconds per pass: fewer runs and only the default method there.
    const n = backend === "cpu" ? runs : Math.min(runs, 3);
    const methods = backend === "cpu" ? "feedback,cam,feedback-soft" : "feedback";
    await page.goto(`${base}www/bench.html?backend=${backend}&runs=${n}&methods=${methods}&memory=${memoryMethod}&run=1`);
    await page.waitForFunction(() => window.benchResult, null, { timeout: 0, polling: 500 });
    const r = await page.evaluate(() => window.benchResult);
    await page.close();
    if (r.error) throw new Error(`${backend}: ${r.error}`);
    report[backend] = r;
    const name = r.info.backend === "gpu" ? `WebGPU (${r.info.adapter || "adapter without a name"})` : "CPU-wasm";
    const each = Object.entries(r.methods).map(([m, v]) =>
      `${m} ${v.totalMs.toFixed(0)} ms` + (v.perIterationMs ? ` (${v.iterations} iterations, ${v.perIterationMs.toFixed(0)} ms each)` : ""));
    console.log(`[${args.label}] ${name}: load ${r.loadMs.toFixed(0)} ms; forward ${r.forwardMs.median.toFixed(1)} ms, ` +
      `forward + backward ${r.forwardBackwardMs.median.toFixed(1)} ms (medians); ${each.join("; ")}` +
      (memoryMethod ? `; wasm memory after 1/10/50 ${memoryMethod} runs: ${Object.values(r.memoryMb).join(" / ")} MB` : ""));
  }
  if (report.cpu) report.simdPeak = await simdPeak(browser, report.cpu.forwardMs.median);
  if (args.json) await writeFile(args.json, JSON.stringify({ label: args.label, ...report }, null, 2));
} finally {
  await browser.close();
  server.close();
}

// GFLOP/s of bench/simd-peak's loops in a page of `browser` (best of five), and the CPU-wasm
// forward pass's rate (0.803 GFLOP, `thinktwice bench`'s count) as a share of the SIMD128 one.
async function simdPeak(browser, forwardMs) {
  const built = {};
  try {
    const target = process.env.CARGO_TARGET_DIR ?? join(ROOT, "target");
    for (const [name, features] of [["plain", "+simd128"], ["relaxed", "+simd128,+relaxed-simd"]]) {
      execFileSync("cargo", ["build", "-q", "--release", "--target", "wasm32-unknown-unknown", "--manifest-path", join(ROOT, "bench/simd-peak/Cargo.toml"),
        "--target-dir", join(target, "simd-peak", name)], { env: { ...process.env, RUSTFLAGS: `-C target-feature=${features}` }, stdio: "inherit" });
      built[name] = (await readFile(join(target, "simd-peak", name, "wasm32-unknown-unknown/release/simd_peak.wasm"))).toString("base64");
    }
  } catch (e) {
    console.log(`[${args.label}] SIMD128 multiply-add peak: not measured (${e.message.split("\n")[0]})`);
    return null;
  }
  const page = await browser.newPage();
  const peak = await page.evaluate(async ({ plain, relaxed }) => {
    const rates = {};
    for (const [name, wasm, f] of [["simd128", plain, "mul_add"], ["relaxedSimd", relaxed, "relaxed_mul_add"]]) {
      try {
        const { instance } = await WebAssembly.instantiate(Uint8Array.from(atob(wasm), (c) => c.charCodeAt(0)));
        const rounds = 20_000_000;
        let best = 0;
        for (let i = 0; i < 5; i++) {
          const start = performance.now();
          instance.exports[f](rounds, 1 + i * 1e-7);
          best = Math.max(best, (rounds * 12 * 4 * 2) / ((performance.now() - start) / 1000) / 1e9);
        }
        rates[name] = best;
      } catch (e) {
        rates[name] = null; // relaxed SIMD is not in every browser
      }
    }
    return rates;
  }, built);
  await page.close();
  const forwardGflops = 0.803 / (forwardMs / 1000);
  console.log(`[${args.label}] SIMD128 multiply-add peak in this browser: ${peak.simd128.toFixed(1)} GFLOP/s` +
    (peak.relaxedSimd ? ` (relaxed SIMD's fused multiply-add: ${peak.relaxedSimd.toFixed(1)})` : "") +
    `; the CPU-wasm forward pass runs at ${forwardGflops.toFixed(1)} GFLOP/s, ${((100 * forwardGflops) / peak.simd128).toFixed(0)}% of it`);
  return { ...peak, forwardGflops };
}
