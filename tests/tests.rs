//! Integration tests, one binary (saves link time). Each module covers one area.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers may panic

/// Shared helpers: temporary directories, running the binary, decoding outputs.
mod util;

/// Bad input: every case exits with code 2, names the file, and loses nothing.
mod bad_input;
/// The main job end to end on the bundled assets: frames, fps, audio, caching, resume, ranges.
mod cli;
/// COLMAP models as `--poses`: the same output as the poses file, malformed ones refused.
mod colmap;
/// Diffusion networks at the published SD 1.5 sizes (zero weights): build and run.
mod diffusion;
/// The ground-truth benchmark: `vanelia score` on the path-traced scenes, above its floors.
mod groundtruth;
/// The layering of `src/` read from its imports: no import against ARCHITECTURE.md's table,
/// no dependency cycle.
mod layering;
/// Lens distortion end to end: the product bent like the plate, from poses file or COLMAP.
mod lens;
/// The key light read from the shot's cast shadows, the fallback and the override.
mod light;
/// The memory plan: `vanelia plan` and `--vram-budget` batch sizing.
mod memory;
/// The camera's optics on the scenes filmed with them: each switched off scores worse; a
/// scene's COLMAP export gives the output of its poses file.
mod optics;
/// Diffusion refinement end to end with the tiny fixture weights: region, batches, weights.
mod refine;
/// Rendering checks: projection against the analytic pinhole, orientation.
mod render;
/// Shading: reflections of the sky and floor, penumbrae as wide as the light.
mod shading;
/// `vanelia track` and the tracker in the main job, with the tiny DPT model.
mod track_cli;
/// Camera tracking on synthetic point maps: alignment accuracy, keyframes, registration.
mod tracking;
/// Video I/O against the FFmpeg command-line tool: rotation, frame rates, image sequences.
mod video_io;
