use candle_core::Tensor;
use vanelia::diffusion::schedulers::{betas, start_step, SchedulerConfig, SchedulerKind};

use crate::harness::{assert_close, cases, floats, ints, Case, ATOL_MATH_F32};

const ENV: &str = "VANELIA_GOLDEN_SD15";

fn config(case: &Case) -> SchedulerConfig {
    let dir = case.manifest["config"]["models"]["scheduler"]
        .as_str()
        .unwrap();
    SchedulerConfig::from_json(&case.text(&format!("{dir}/scheduler_config.json"))).unwrap()
}

fn kind(name: &str) -> SchedulerKind {
    match name {
        "dpmpp2m_karras" => SchedulerKind::DpmPp2mKarras,
        "ddim" => SchedulerKind::Ddim,
        other => panic!("unknown scheduler {other}"),
    }
}

#[test]
fn training_schedule_is_bit_exact() {
    for case in cases("sd15", ENV) {
        let t = case.tensors("schedule_tables.safetensors");
        let cfg = config(&case);
        let b = betas::scaled_linear(cfg.num_train_timesteps, cfg.beta_start, cfg.beta_end);
        let ac = betas::alphas_cumprod(&b);
        assert_eq!(b, floats(&t["betas"]), "{}: betas", case.name());
        assert_eq!(
            ac,
            floats(&t["alphas_cumprod"]),
            "{}: alphas_cumprod",
            case.name()
        );
        // torch's vectorised f32 sqrt (SLEEF, 0.5 ulp bound) differs from IEEE sqrt by one ulp in a
        // few entries; timesteps and sigmas for every step count are still exact (next test).
        for (ours, theirs) in betas::train_sigmas(&ac)
            .iter()
            .zip(floats(&t["train_sigmas"]))
        {
            assert!(
                (ours - theirs).abs() <= f32::EPSILON * theirs,
                "{}: train sigma {ours} vs {theirs}",
                case.name()
            );
        }
    }
}

#[test]
fn timesteps_and_sigmas_for_every_step_count() {
    for case in cases("sd15", ENV) {
        let t = case.tensors("schedule_tables.safetensors");
        let cfg = config(&case);
        let mut checked = 0;
        for (name, tensor) in &t {
            let Some((prefix, n)) = name.rsplit_once("_n") else {
                continue;
            };
            let Ok(n) = n.parse::<usize>() else { continue };
            let (k, what) = match prefix {
                "dpmpp2m_karras_timesteps" => (SchedulerKind::DpmPp2mKarras, "timesteps"),
                "dpmpp2m_karras_sigmas" => (SchedulerKind::DpmPp2mKarras, "sigmas"),
                "ddim_timesteps" => (SchedulerKind::Ddim, "timesteps"),
                _ => continue,
            };
            let s = cfg.build(k, n);
            if what == "timesteps" {
                assert_eq!(s.timesteps(), ints(tensor), "{}: {name}", case.name());
            } else {
                let ours: Vec<f32> = (0..=n).map(|i| s.sigma(i) as f32).collect();
                assert_eq!(ours, floats(tensor), "{}: {name}", case.name());
            }
            checked += 1;
        }
        assert!(checked > 100, "{}: only {checked} tables", case.name());
    }
}

#[test]
fn strength_selects_the_start_step() {
    for case in cases("sd15", ENV) {
        let cfg = config(&case);
        for (key, want) in case.manifest["strength_table"].as_object().unwrap() {
            let mut parts = key.split('/');
            let k = kind(parts.next().unwrap());
            let n: usize = parts
                .next()
                .unwrap()
                .trim_start_matches('n')
                .parse()
                .unwrap();
            let strength: f64 = parts
                .next()
                .unwrap()
                .trim_start_matches('s')
                .parse()
                .unwrap();
            let s = cfg.build(k, n);
            let t_start = start_step(n, strength);
            assert_eq!(t_start as u64, want["t_start"].as_u64().unwrap(), "{key}");
            let run: Vec<i64> = want["timesteps"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_i64().unwrap())
                .collect();
            assert_eq!(s.timesteps()[t_start..], run, "{key}");
            let sigma = want["sigma_start"].as_f64().unwrap();
            assert!(
                (s.sigma(t_start) - sigma).abs() <= 1e-6 * sigma.max(1.0),
                "{key}: sigma {} vs {sigma}",
                s.sigma(t_start)
            );
        }
    }
}

/// The fake model of the scheduler-only runs: eps_i(x) = 0.7 x + 0.1 (i+1) cos((i+1) x).
fn fake_eps(x: &Tensor, i: usize) -> Tensor {
    let k = (i + 1) as f64;
    (x.affine(0.7, 0.0).unwrap()
        + x.affine(k, 0.0)
            .unwrap()
            .cos()
            .unwrap()
            .affine(0.1 * k, 0.0)
            .unwrap())
    .unwrap()
}

/// Each step is fed the reference's own input (teacher forcing): the fake model
/// `0.7 x + 0.1 k cos(k x)` is chaotic for large k, so a free-running comparison would test
/// the amplification of one-ulp differences in `cos`, `exp` and `ln` rather than the scheduler.
#[test]
fn scheduler_runs_match_step_by_step() {
    for case in cases("sd15", ENV) {
        let cfg = config(&case);
        for run in case.manifest["sched_runs"].as_array().unwrap() {
            let file = run["file"].as_str().unwrap();
            let t = case.tensors(file);
            let n = run["num_inference_steps"].as_u64().unwrap() as usize;
            let strength = run["strength"].as_f64().unwrap();
            let mut s = cfg.build(kind(run["scheduler"].as_str().unwrap()), n);
            assert_eq!(s.timesteps(), ints(&t["timesteps_full"]), "{file}");
            let t_start = start_step(n, strength);
            assert_eq!(t_start as u64, run["t_start"].as_u64().unwrap(), "{file}");
            assert_eq!(
                s.timesteps()[t_start..],
                ints(&t["timesteps_run"]),
                "{file}"
            );
            let x_init = if strength < 1.0 {
                s.add_noise(&t["x0"], &t["noise"], t_start).unwrap()
            } else {
                t["noise"].affine(s.init_noise_sigma(), 0.0).unwrap()
            };
            assert_close(
                &format!("{file}: x_init"),
                &x_init,
                &t["x_init"],
                ATOL_MATH_F32,
            );
            let steps = run["num_steps_run"].as_u64().unwrap() as usize;
            for i in 0..steps {
                let x_in = if i == 0 {
                    t["x_init"].clone()
                } else {
                    t[&format!("x_after_step_{}", i - 1)].clone()
                };
                let out = s.step(&fake_eps(&x_in, i), t_start + i, &x_in).unwrap();
                assert_close(
                    &format!("{file}: step {i}"),
                    &out,
                    &t[&format!("x_after_step_{i}")],
                    ATOL_MATH_F32,
                );
            }
        }
    }
}

/// The production setting (DPM++ 12 steps at strength 0.3, and DDIM 20 at 0.3) also runs
/// free, each step on our own previous output.
#[test]
fn short_img2img_runs_match_free_running() {
    for case in cases("sd15", ENV) {
        let cfg = config(&case);
        for run in case.manifest["sched_runs"].as_array().unwrap() {
            let steps = run["num_steps_run"].as_u64().unwrap() as usize;
            if steps > 6 {
                continue;
            }
            let file = run["file"].as_str().unwrap();
            let t = case.tensors(file);
            let n = run["num_inference_steps"].as_u64().unwrap() as usize;
            let mut s = cfg.build(kind(run["scheduler"].as_str().unwrap()), n);
            let t_start = start_step(n, run["strength"].as_f64().unwrap());
            let mut x = s.add_noise(&t["x0"], &t["noise"], t_start).unwrap();
            for i in 0..steps {
                x = s.step(&fake_eps(&x, i), t_start + i, &x).unwrap();
                assert_close(
                    &format!("{file}: free step {i}"),
                    &x,
                    &t[&format!("x_after_step_{i}")],
                    ATOL_MATH_F32,
                );
            }
        }
    }
}
