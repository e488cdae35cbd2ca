//! The `thinktwice classify` command on every supported format and on bad input.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use image::{DynamicImage, ImageFormat};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("thinktwice-test-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `thinktwice ARGS --weights pkg/…f32.safetensors`.
fn thinktwice<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_thinktwice")).args(args).arg("--weights").arg(common::weights_path("f32")).output().unwrap()
}

/// Writes a `width × height` PNG of a bright disc of `radius` at `centre` on a dark ground.
fn disc(path: &Path, width: u32, height: u32, centre: (f32, f32), radius: f32) {
    image::RgbImage::from_fn(width, height, |x, y| {
        let d = ((x as f32 - centre.0).powi(2) + (y as f32 - centre.1).powi(2)).sqrt();
        if d < radius { image::Rgb([250, 210, 35]) } else { image::Rgb([25, 45, 60]) }
    })
    .save(path)
    .unwrap();
}

fn classify(args: &[&Path]) -> (i32, String, String) {
    let mut all: Vec<&std::ffi::OsStr> = vec!["classify".as_ref()];
    all.extend(args.iter().map(|a| a.as_os_str()));
    let out = thinktwice(&all);
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

/// Top-1 class index printed for `path` in `stdout`.
fn top1(stdout: &str, path: &Path) -> usize {
    let mut lines = stdout.lines().skip_while(|l| *l != path.display().to_string());
    lines.next().unwrap_or_else(|| panic!("{} not in output:\n{stdout}", path.display()));
    lines.next().unwrap().split_whitespace().next().unwrap().parse().unwrap()
}

/// Writes `image` as CMYK JPEG (the `image` crate cannot encode CMYK).
fn write_cmyk_jpeg(image: &DynamicImage, path: &Path) {
    let rgb = image.to_rgb8();
    let cmyk: Vec<u8> = rgb
        .pixels()
        .flat_map(|p| {
            let [r, g, b] = p.0.map(|v| v as f32 / 255.0);
            let k = 1.0 - r.max(g).max(b);
            let f = |c: f32| if k >= 1.0 { 0 } else { (255.0 * (1.0 - c - k) / (1.0 - k)).round() as u8 };
            // Plain CMYK (0 = no ink); jpeg-encoder stores it inverted, Adobe style.
            [f(r), f(g), f(b), (255.0 * k).round() as u8]
        })
        .collect();
    jpeg_encoder::Encoder::new_file(path, 92)
        .unwrap()
        .encode(&cmyk, rgb.width() as u16, rgb.height() as u16, jpeg_encoder::ColorType::Cmyk)
        .unwrap();
}

#[test]
fn classifies_every_format_and_reports_bad_files() {
    let dir = scratch("formats");
    // The cat photo when available; otherwise a synthetic picture (formats still checked).
    let photo = common::cat_photo().map(|p| image::open(p).unwrap());
    let img = photo.clone().unwrap_or_else(|| {
        DynamicImage::ImageRgb8(image::RgbImage::from_fn(320, 240, |x, y| image::Rgb([x as u8, y as u8, 128])))
    });
    let mut files = Vec::new();
    for (name, format) in [
        ("jpeg.jpg", ImageFormat::Jpeg),
        ("png.png", ImageFormat::Png),
        ("webp.webp", ImageFormat::WebP),
        ("bmp.bmp", ImageFormat::Bmp),
        ("tiff.tiff", ImageFormat::Tiff),
        ("gif.gif", ImageFormat::Gif),
    ] {
        let path = dir.join(name);
        let img = if format == ImageFormat::Jpeg { DynamicImage::ImageRgb8(img.to_rgb8()) } else { img.to_rgba8().into() };
        img.save_with_format(&path, format).unwrap();
        files.push(path);
    }
    let gray = dir.join("gray.png");
    DynamicImage::ImageLuma8(img.to_luma8()).save(&gray).unwrap();
    let alpha = dir.join("alpha.png");
    let mut rgba = img.to_rgba8();
    rgba.pixels_mut().for_each(|p| p.0[3] = 200);
    rgba.save(&alpha).unwrap();
    let cmyk = dir.join("cmyk.jpg");
    write_cmyk_jpeg(&img, &cmyk);
    files.extend([gray.clone(), alpha, cmyk]);

    let corrupt = dir.join("corrupt.jpg");
    std::fs::write(&corrupt, b"\xff\xd8\xff\xe0 this is not a jpeg").unwrap();
    let missing = dir.join("missing.png");

    let mut args: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    args.insert(2, &corrupt);
    args.push(&missing);
    let (code, stdout, stderr) = classify(&args);

    assert_ne!(code, 0, "bad files must give a non-zero exit code");
    assert_eq!(stderr.lines().filter(|l| l.contains("corrupt.jpg")).count(), 1, "{stderr}");
    assert_eq!(stderr.lines().filter(|l| l.contains("missing.png")).count(), 1, "{stderr}");
    for f in &files {
        let top = top1(&stdout, f);
        assert_eq!(stdout.lines().skip_while(|l| *l != f.display().to_string()).skip(1).take(5).count(), 5);
        if photo.is_some() {
            // Tabby, tiger cat, Persian, Siamese, Egyptian cat: 281..=285.
            assert!((281..=285).contains(&top), "{}: top-1 {top}\n{stdout}", f.display());
        }
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn all_good_files_exit_zero_and_missing_weights_explain_themselves() {
    let dir = scratch("ok");
    let path = dir.join("plain.png");
    image::RgbImage::from_pixel(64, 48, image::Rgb([30, 140, 200])).save(&path).unwrap();
    let (code, stdout, _) = classify(&[&path]);
    assert_eq!(code, 0);
    assert_eq!(stdout.lines().count(), 6);

    let out = Command::new(env!("CARGO_BIN_EXE_thinktwice"))
        .args(["classify", "--weights"])
        .arg(dir.join("nope.safetensors"))
        .arg(&path)
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nope.safetensors") && err.contains("thinktwice weights"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn weights_that_do_not_match_their_manifest_are_refused_in_one_message() {
    let dir = scratch("manifest");
    let image = dir.join("plain.png");
    image::RgbImage::from_pixel(64, 48, image::Rgb([30, 140, 200])).save(&image).unwrap();
    let original = std::fs::read(common::weights_path("f16")).unwrap();
    let manifest = std::fs::read(common::weights_path("f16").with_file_name("manifest.json")).unwrap();
    std::fs::write(dir.join("manifest.json"), manifest).unwrap();
    let weights = dir.join("efficientnet-lite0.f16.safetensors");
    // A flipped bit deep in the data still parses as weights: only the manifest can tell.
    let mut flipped = original.clone();
    let at = flipped.len() - 1000;
    flipped[at] ^= 0x10;
    for (what, bytes) in [("flipped", flipped), ("truncated", original[..original.len() / 3].to_vec())] {
        std::fs::write(&weights, bytes).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_thinktwice")).arg("classify").arg(&image).arg("--weights").arg(&weights).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{what}: {err}");
        assert!(err.contains("damaged or not the file its manifest describes"), "{what}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{what}: one message, got {err}");
    }
    std::fs::write(&weights, &original).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_thinktwice")).arg("classify").arg(&image).arg("--weights").arg(&weights).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn localize_writes_overlays_and_json_in_original_pixels() {
    let dir = scratch("localize");
    // A 320×200 picture: a bright disc on the left half, to check boxes come back in its pixels.
    let path = dir.join("disc.png");
    disc(&path, 320, 200, (90.0, 100.0), 50.0);
    let out = thinktwice(&["localize".as_ref(), "--class".as_ref(), "top2".as_ref(), "--method".as_ref(), "cam".as_ref(), "--out".as_ref(), dir.as_os_str(), path.as_os_str()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("disc.cam.json")).unwrap()).unwrap();
    assert_eq!(json["width"], 320);
    let classes = json["classes"].as_array().unwrap();
    assert_eq!(classes.len(), 2);
    for c in classes {
        let b = &c["box"];
        let (x0, x1, y1) = (b["x0"].as_f64().unwrap(), b["x1"].as_f64().unwrap(), b["y1"].as_f64().unwrap());
        assert!(0.0 <= x0 && x0 < x1 && x1 <= 320.0 && y1 <= 200.0, "{b}");
        let png = dir.join(format!("disc.{}.cam.png", c["class"]));
        assert_eq!(image::open(png).unwrap().to_rgb8().dimensions(), (320, 200));
        let raw = image::open(dir.join(format!("disc.{}.cam.map.png", c["class"]))).unwrap().to_luma16();
        assert_eq!(raw.dimensions(), (320, 200));
        // Normalised to the map's maximum (resizing to the photo may shave the peak a little).
        let peak = raw.pixels().map(|p| p.0[0]).max().unwrap();
        assert!(peak > 60_000, "raw map peak {peak}");
    }

    // An unknown class name suggests the closest names and fails.
    let out = thinktwice(&["localize".as_ref(), "--class".as_ref(), "tigr cat".as_ref(), "--out".as_ref(), dir.as_os_str(), path.as_os_str()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("did you mean") && err.contains("tiger cat"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn eval_reports_every_metric_and_skips_bad_rows() {
    let dir = scratch("eval");
    // Two pictures of a bright disc with its box; a row whose file is missing; a box outside its image.
    let mut csv = String::from("path,wnid,class_idx,class_name,orig_w,orig_h,img_w,img_h,x0,y0,x1,y1\n");
    for (i, (cx, cy)) in [(70.0f32, 80.0f32), (150.0, 120.0)].iter().enumerate() {
        let name = format!("disc{i}.png");
        disc(&dir.join(&name), 227, 227, (*cx, *cy), 40.0);
        csv += &format!("{name},n0,950,\"orange, the fruit\",227,227,227,227,{},{},{},{}\n", cx - 40.0, cy - 40.0, cx + 40.0, cy + 40.0);
    }
    csv += "missing.png,n0,950,orange,227,227,227,227,1,1,50,50\n";
    csv += "disc0.png,n0,950,orange,227,227,227,227,100,100,400,120\n";
    std::fs::write(dir.join("boxes.csv"), csv).unwrap();
    let json = dir.join("report.json");
    let out = thinktwice(&["eval".as_ref(), "--methods".as_ref(), "gradient,cam,feedback".as_ref(), "--data".as_ref(), dir.as_os_str(), "--json".as_ref(), json.as_os_str()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("missing.png not found") && stderr.contains("outside the 227×227 image"), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("| cam |") && stdout.contains("| feedback-closer |"), "{stdout}");
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(report["n_images"], 2);
    // Every method but CAM is compared with CAM on the same objects.
    let paired = &report["methods"]["feedback-closer"]["vs_cam"];
    assert_eq!(paired["objects"], 2);
    let (wins, losses) = (paired["wins"].as_u64().unwrap(), paired["losses"].as_u64().unwrap());
    assert!(wins + losses <= 2 && (0.0..=1.0).contains(&paired["mcnemar_p"].as_f64().unwrap()), "{paired}");
    assert!(report["methods"]["cam"].get("vs_cam").is_none());
    for method in ["gradient", "cam", "feedback-closer"] {
        let m = &report["methods"][method];
        for key in ["gt_known_loc", "top1_loc", "pointing", "maxboxacc", "mean_iou", "sec_per_image"] {
            let v = m[key].as_f64().unwrap_or_else(|| panic!("{method}.{key} missing"));
            assert!((0.0..=1.0).contains(&v) || key == "sec_per_image", "{method}.{key} = {v}");
        }
        assert_eq!(m["n_objects"], 2);
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn eval_shards_merge_to_the_single_run_and_a_rerun_resumes() {
    let dir = scratch("shards");
    let mut csv = String::from("path,wnid,class_idx,class_name,orig_w,orig_h,img_w,img_h,x0,y0,x1,y1\n");
    for (i, (cx, cy)) in [(70.0f32, 80.0f32), (150.0, 120.0), (110.0, 60.0), (60.0, 160.0), (170.0, 170.0)].iter().enumerate() {
        let name = format!("disc{i}.png");
        disc(&dir.join(&name), 227, 227, (*cx, *cy), 35.0);
        csv += &format!("{name},n0,950,orange,227,227,227,227,{},{},{},{}\n", cx - 35.0, cy - 35.0, cx + 35.0, cy + 35.0);
    }
    std::fs::write(dir.join("boxes.csv"), csv).unwrap();
    let eval = |extra: &[&std::ffi::OsStr]| {
        let mut args: Vec<&std::ffi::OsStr> = vec!["eval".as_ref(), "--methods".as_ref(), "gradient,cam".as_ref(), "--data".as_ref(), dir.as_os_str()];
        args.extend_from_slice(extra);
        let out = thinktwice(&args);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        out
    };
    let single = dir.join("single.json");
    eval(&["--json".as_ref(), single.as_os_str()]);
    let (a, b) = (dir.join("a.jsonl"), dir.join("b.jsonl"));
    eval(&["--shard".as_ref(), "0/2".as_ref(), "--records".as_ref(), a.as_os_str()]);
    eval(&["--shard".as_ref(), "1/2".as_ref(), "--records".as_ref(), b.as_os_str()]);
    assert_eq!(std::fs::read_to_string(&a).unwrap().lines().count(), 3 * 2, "shard 0/2: photos 0, 2, 4 × 2 methods");
    // A rerun of a finished shard does nothing again.
    let again = eval(&["--shard".as_ref(), "0/2".as_ref(), "--records".as_ref(), a.as_os_str()]);
    assert!(String::from_utf8_lossy(&again.stderr).contains("3 of 3 images already recorded"));
    assert_eq!(std::fs::read_to_string(&a).unwrap().lines().count(), 6);
    // Interrupted (SIGINT) after its first records: every record written stays whole, and a rerun
    // of the same job finishes it.
    let c = dir.join("c.jsonl");
    let mut child = Command::new(env!("CARGO_BIN_EXE_thinktwice"))
        .args(["eval".as_ref(), "--methods".as_ref(), "gradient,cam".as_ref(), "--workers".as_ref(), "1".as_ref(), "--data".as_ref(), dir.as_os_str(), "--records".as_ref(), c.as_os_str(), "--weights".as_ref(), common::weights_path("f32").as_os_str()])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while std::fs::read_to_string(&c).map_or(0, |t| t.lines().count()) < 2 && started.elapsed().as_secs() < 120 {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    child.wait().unwrap();
    let written = std::fs::read_to_string(&c).unwrap();
    assert!(written.lines().count() >= 2, "{written}");
    for line in written.lines() {
        serde_json::from_str::<serde_json::Value>(line).unwrap_or_else(|e| panic!("a torn record after SIGINT: {e}: {line}"));
    }
    eval(&["--records".as_ref(), c.as_os_str()]);
    assert_eq!(std::fs::read_to_string(&c).unwrap().lines().count(), 5 * 2, "the rerun completes the job");

    // A torn last line (a killed job) is ignored.
    let mut torn = std::fs::read_to_string(&b).unwrap();
    torn.push_str("{\"image\": \"disc9.png\", \"meth");
    std::fs::write(&b, torn).unwrap();
    let merged = dir.join("merged.json");
    let out = Command::new(env!("CARGO_BIN_EXE_thinktwice")).args(["eval".as_ref(), "merge".as_ref(), a.as_os_str(), b.as_os_str(), "--json".as_ref(), merged.as_os_str()]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let read = |p: &Path| -> serde_json::Value { serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap() };
    let (single, merged) = (read(&single), read(&merged));
    assert_eq!(merged["n_images"], 5);
    for method in ["gradient", "cam"] {
        let (s, m) = (&single["methods"][method], &merged["methods"][method]);
        for key in ["gt_known_loc", "gt_known_loc_30", "gt_known_loc_70", "top1_loc", "pointing", "maxboxacc", "mean_iou", "box_accuracy_curve", "n_objects", "box_threshold"] {
            assert_eq!(s[key], m[key], "{method}.{key}");
        }
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn bench_prints_speeds_beside_the_counted_work_and_the_machine_peaks() {
    let dir = scratch("bench");
    let json = dir.join("bench.json");
    let out = thinktwice(&["bench".as_ref(), "--passes-only".as_ref(), "--runs".as_ref(), "2".as_ref(), "--backends".as_ref(), "cpu".as_ref(), "--json".as_ref(), json.as_os_str()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("forward + backward") && stdout.contains("GFLOP/s") && stdout.contains("this machine"), "{stdout}");
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    // The work counted from the architecture (0.4 G multiply-adds forward; the backward about as much again).
    let (f, fb) = (r["cost"]["forward_flops"].as_f64().unwrap(), r["cost"]["forward_backward_flops"].as_f64().unwrap());
    assert!((0.75e9..0.85e9).contains(&f) && fb > 1.9 * f, "{f} {fb}");
    assert_eq!(r["cost"]["parameters"], 4_652_008);
    let cpu = &r["backends"]["cpu"];
    let (fwd, fwd_bwd) = (cpu["forward_s"]["median"].as_f64().unwrap(), cpu["forward_backward_s"]["median"].as_f64().unwrap());
    assert!(fwd > 0.0 && fwd_bwd > fwd && cpu["forward_s"]["runs"] == 2, "{cpu}");
    // Achieved rates are the counted work over the measured time, and below the measured peak.
    assert!((cpu["forward_gflops"].as_f64().unwrap() - f / fwd / 1e9).abs() < 1e-6);
    assert!(cpu["forward_gflops"].as_f64().unwrap() < r["peak"]["gflops_all_threads"].as_f64().unwrap());
    assert!(r["peak"]["copy_gbs_all_threads"].as_f64().unwrap() > 0.0);
    assert!(r.get("fwd_vs_jax").is_none(), "no peers without --peers");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn the_readme_lists_the_methods_of_the_method_table() {
    let out = Command::new(env!("CARGO_BIN_EXE_thinktwice")).args(["methods", "--markdown"]).output().unwrap();
    assert!(out.status.success());
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.lines().count() == 2 + thinktwice::saliency::METHODS.len(), "{table}");
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let start = "<!-- methods: `thinktwice methods --markdown` writes this table; tests/cli.rs checks it -->\n";
    let block = readme.split(start).nth(1).and_then(|rest| rest.split("<!-- /methods -->").next()).expect("README.md has the methods markers");
    assert_eq!(block, table, "README.md's method table is not `thinktwice methods --markdown`: paste its output between the markers");
}
