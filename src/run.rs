//! The main job, wired stage by stage: probe → track → placement → per frame (render →
//! composite → cache) → encode. Decoding and encoding run on their own threads with bounded
//! channels, so host memory stays flat however long the clip is.
//!
//! Caching: every per-frame result is stored in the work directory under a key that hashes
//! what it depends on. A frame is recomputed when it is selected (`--frames`, default all) and
//! its cached result is missing, stale or `--force` is given; frames outside the selection are
//! taken from the cache as they are (splicing), or pass through unchanged if never computed.

use std::path::{Path, PathBuf};
use std::sync::mpsc;

use crate::cli::args::SchedulerArg;
use crate::composite::{self, CompositeSettings, Harmonise, Patch};
use crate::core::{
    hash, report, CameraTrack, Error, Frame, FrameNr, FrameRange, FrameRate, Progress,
    RenderLayers, Result, RunReport, StageClock,
};
use crate::render::placement::{self, Placement, PlacementOptions};
use crate::render::scene::ProductModel;
use crate::render::RenderStage;
use crate::video::{ClipSummary, Sink, SinkSettings, Source};
use crate::workdir::{Artefact, ArtefactStore, WorkDir, TOOL_VERSION};

/// How the composited product region is refined.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RefineMode {
    /// Compositing with the given harmonisation only.
    Composite(Harmonise),
    /// Stable Diffusion refinement after a plain composite.
    Diffusion,
}

/// Which frames a run computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct FrameSelection {
    first: Option<u64>,
    end: Option<u64>,
}

impl FrameSelection {
    /// Parses `A..B`, `A..`, `..B` or nothing (all frames).
    pub fn parse(spec: Option<&str>) -> Result<Self> {
        let Some(spec) = spec else {
            return Ok(Self {
                first: None,
                end: None,
            });
        };
        let bad = || Error::InvalidArgument {
            name: "--frames",
            detail: format!("expected A..B (end exclusive), A.. or ..B, got \"{spec}\""),
        };
        let (a, b) = spec.split_once("..").ok_or_else(bad)?;
        let num = |s: &str| -> Result<Option<u64>> {
            if s.trim().is_empty() {
                Ok(None)
            } else {
                s.trim().parse().map(Some).map_err(|_| bad())
            }
        };
        Ok(Self {
            first: num(a)?,
            end: num(b)?,
        })
    }

    /// The concrete range for a clip of `frame_count` frames.
    pub fn resolve(self, frame_count: u64) -> Result<FrameRange> {
        let range = FrameRange {
            first: self.first.unwrap_or(0),
            end: self.end.unwrap_or(frame_count),
        };
        if range.first >= range.end || range.end > frame_count {
            return Err(Error::InvalidArgument {
                name: "--frames",
                detail: format!("{range} is outside the clip, which has frames 0..{frame_count}"),
            });
        }
        Ok(range)
    }
}

/// A validated run configuration (built by `cli::args`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct RunConfig {
    /// Input video or image sequence.
    pub input: PathBuf,
    /// Product model.
    pub model: PathBuf,
    /// Output video or image sequence.
    pub output: PathBuf,
    /// Work directory.
    pub workdir: PathBuf,
    /// Camera track to import.
    pub poses: Option<PathBuf>,
    /// Frames to compute.
    pub frames: FrameSelection,
    /// Recompute selected frames regardless of the cache.
    pub force: bool,
    /// Refinement.
    pub refine: RefineMode,
    /// Compositing options.
    pub composite: CompositeSettings,
    /// Placement options.
    pub placement: PlacementOptions,
    /// Diffusion batch size, `None` for automatic.
    pub batch_size: Option<u32>,
    /// Diffusion steps.
    pub steps: u32,
    /// Diffusion strength.
    pub strength: f64,
    /// Diffusion scheduler.
    pub scheduler: SchedulerArg,
    /// Output CRF.
    pub crf: u8,
    /// Frame rate assumed for image-sequence input.
    pub seq_rate: FrameRate,
    /// Diffusion weights directory.
    pub weights: Option<PathBuf>,
}

/// What happens to one frame in this run.
#[derive(Debug, Clone, PartialEq, Eq)]
enum FramePlan {
    /// Render and composite now.
    Compute,
    /// Take the cached composite stored under this key.
    Reuse(String),
    /// Outside the selection and never computed: the source frame unchanged.
    Passthrough,
}

/// Everything resolved before the first frame is decoded.
struct Prepared {
    source: Source,
    clip: ClipSummary,
    range: FrameRange,
    workdir: WorkDir,
    track: CameraTrack,
    model: ProductModel,
    placement: Placement,
    render_key: String,
    composite_key: String,
    report: RunReport,
}

/// Runs the main job and returns its report (also written next to the output).
pub fn run(cfg: &RunConfig, progress: &dyn Progress) -> Result<RunReport> {
    let mut p = prepare(cfg, false)?;
    let renders = p.workdir.stage("render")?;
    let composites = p.workdir.stage("composite")?;
    let plans = plan_frames(&p, cfg, &composites);
    let output_key = output_key(&p, cfg, &plans);
    let up_to_date = !plans.contains(&FramePlan::Compute)
        && cfg.output_exists()
        && p.workdir.manifest()?.and_then(|m| m.output_key).as_deref() == Some(output_key.as_str());
    let mut clocks = Clocks::default();
    if up_to_date {
        clocks.composite.reused = p.clip.frame_count;
    } else {
        stream_frames(
            &mut p,
            cfg,
            &plans,
            (&renders, &composites),
            &mut clocks,
            progress,
        )?;
        let mut manifest = p.workdir.manifest()?.ok_or_else(|| Error::WorkDir {
            detail: "manifest disappeared during the run".into(),
            path: p.workdir.file("manifest.json"),
        })?;
        manifest.output_key = Some(output_key);
        p.workdir.write_manifest(&manifest)?;
    }
    p.report.output_written = !up_to_date;
    p.report.stages = vec![
        clocks.render.report(),
        clocks.composite.report(),
        clocks.encode.report(),
    ];
    p.report.peak_rss_bytes = report::peak_rss_bytes();
    write_report(&p.report, &cfg.output)?;
    Ok(p.report)
}

impl RunConfig {
    fn output_exists(&self) -> bool {
        match crate::video::image_seq::SeqPattern::parse(&self.output) {
            Some(p) => p.path_of(0).is_file(),
            None => self.output.is_file(),
        }
    }
}

#[derive(Debug)]
struct Clocks {
    render: StageClock,
    composite: StageClock,
    encode: StageClock,
}

impl Default for Clocks {
    fn default() -> Self {
        Self {
            render: StageClock::new("render"),
            composite: StageClock::new("composite"),
            encode: StageClock::new("encode"),
        }
    }
}

fn prepare(cfg: &RunConfig, layers_dir: bool) -> Result<Prepared> {
    if cfg.refine == RefineMode::Diffusion {
        return Err(Error::Unavailable {
            what: "--refine diffusion",
            hint:
                "the Stable Diffusion stage is not in this build yet; use --refine classic or none"
                    .into(),
        });
    }
    let source = Source::open(&cfg.input, cfg.seq_rate)?;
    let clip = source.summary();
    let range = cfg.frames.resolve(clip.frame_count)?;
    if layers_dir {
        std::fs::create_dir_all(&cfg.output).map_err(|e| {
            Error::bad_input(
                format!("cannot create the layer directory ({e})"),
                "choose a writable --output",
                &cfg.output,
            )
        })?;
        crate::video::check_writable(&cfg.output.join("000000.rgba.png"))?;
    } else {
        crate::video::check_writable(&cfg.output)?;
        crate::video::check_encodable(&cfg.output, &cfg.input, clip.size)?;
    }
    let model = ProductModel::load(&cfg.model)?;
    let track = load_track(cfg, &clip)?;
    let input_sha = source.content_hash()?;
    let clip_json = serde_json::to_value(&clip).unwrap_or_default();
    let (workdir, stale) = WorkDir::open(&cfg.workdir, &input_sha, clip_json)?;
    track.write(&workdir.file("track.json"))?;
    let bbox = (model.bbox_min.as_dvec3(), model.bbox_max.as_dvec3());
    let (placement, placement_notes) = placement::place(&track, bbox, &cfg.placement)?;
    write_json(&workdir.file("placement.json"), &placement)?;
    let render_key = hash::key_of(&[
        ("tool", TOOL_VERSION),
        ("input", &input_sha),
        ("track", &hash::file_sha256(&workdir.file("track.json"))?),
        ("model", &hash::file_sha256(&cfg.model)?),
        ("placement", &json_string(&placement)),
    ]);
    let composite_key = hash::key_of(&[
        ("render", &render_key),
        ("composite", &json_string(&cfg.composite)),
    ]);
    workdir.record_stage(
        "render",
        &render_key,
        serde_json::json!({ "placement": &placement, "model": &cfg.model }),
    )?;
    workdir.record_stage(
        "composite",
        &composite_key,
        serde_json::to_value(cfg.composite).unwrap_or_default(),
    )?;
    let mut report = new_report(cfg, &clip, &placement);
    if stale {
        report.warn(
            "workdir",
            None,
            "the work directory held results for another input or version; they were removed",
        );
    }
    for note in placement_notes {
        report.warn("placement", None, note);
    }
    Ok(Prepared {
        source,
        clip,
        range,
        workdir,
        track,
        model,
        placement,
        render_key,
        composite_key,
        report,
    })
}

fn load_track(cfg: &RunConfig, clip: &ClipSummary) -> Result<CameraTrack> {
    let path = cfg.poses.as_deref().ok_or(Error::Unavailable {
        what: "camera tracking",
        hint: "the built-in DUSt3R tracker is not in this build yet; pass a camera track with --poses FILE (format in the README)".into(),
    })?;
    let track = CameraTrack::read(path)?;
    track.check_clip(clip.size, clip.frame_count, path)?;
    Ok(track)
}

fn new_report(cfg: &RunConfig, clip: &ClipSummary, placement: &Placement) -> RunReport {
    RunReport {
        tool_version: TOOL_VERSION.into(),
        input: cfg.input.clone(),
        output: cfg.output.clone(),
        workdir: cfg.workdir.clone(),
        frames_total: clip.frame_count,
        options: serde_json::to_value(cfg).unwrap_or_default(),
        stages: Vec::new(),
        output_written: false,
        placement: serde_json::to_value(placement).ok(),
        peak_rss_bytes: 0,
        warnings: Vec::new(),
    }
}

fn plan_frames(p: &Prepared, cfg: &RunConfig, composites: &ArtefactStore) -> Vec<FramePlan> {
    (0..p.clip.frame_count)
        .map(FrameNr)
        .map(|nr| {
            if p.range.contains(nr) {
                if !cfg.force && composites.is_done(nr, &p.composite_key) {
                    FramePlan::Reuse(p.composite_key.clone())
                } else {
                    FramePlan::Compute
                }
            } else {
                composites
                    .current_key(nr)
                    .map_or(FramePlan::Passthrough, FramePlan::Reuse)
            }
        })
        .collect()
}

/// Identifies the exact output a plan produces, to skip re-encoding an identical output.
fn output_key(p: &Prepared, cfg: &RunConfig, plans: &[FramePlan]) -> String {
    let frames: String = plans
        .iter()
        .map(|plan| match plan {
            FramePlan::Compute => p.composite_key.as_str(),
            FramePlan::Reuse(k) => k.as_str(),
            FramePlan::Passthrough => "-",
        })
        .collect::<Vec<_>>()
        .join(",");
    hash::key_of(&[
        ("input", &p.report.input.display().to_string()),
        ("output", &cfg.output.display().to_string()),
        ("crf", &cfg.crf.to_string()),
        ("frames", &frames),
    ])
}

/// Decodes, processes and encodes every frame in order.
fn stream_frames(
    p: &mut Prepared,
    cfg: &RunConfig,
    plans: &[FramePlan],
    stores: (&ArtefactStore, &ArtefactStore),
    clocks: &mut Clocks,
    progress: &dyn Progress,
) -> Result<()> {
    let (encoder_tx, encoder) = spawn_encoder(cfg, &p.clip, p.source.audio_path())?;
    let decoded = p.source.spawn_decoder(4);
    let mut renderer: Option<RenderStage> = None;
    let mut passthrough = 0_u64;
    progress.begin("frames", p.clip.frame_count);
    let mut received = 0_u64;
    for item in decoded {
        let mut frame = item?;
        received += 1;
        let plan = plans
            .get(frame.nr.0 as usize)
            .cloned()
            .unwrap_or(FramePlan::Passthrough);
        let patch = match plan {
            FramePlan::Compute => Some(compute_frame(
                p,
                cfg,
                &frame,
                stores,
                &mut renderer,
                clocks,
            )?),
            FramePlan::Reuse(key) => {
                clocks.render.reused += 1;
                clocks.composite.reused += 1;
                Some(load_patch(stores.1, frame.nr, &key)?)
            }
            FramePlan::Passthrough => {
                passthrough += 1;
                None
            }
        };
        if let Some(patch) = patch {
            patch.apply(&mut frame.rgb);
        }
        if encoder_tx.send(frame).is_err() {
            break; // the encoder failed; its error is collected below
        }
        progress.advance("frames", 1);
    }
    drop(encoder_tx);
    progress.finish("frames");
    let (encode_clock, audio_note) = encoder.join().map_err(|_| Error::Render {
        detail: "encoder thread panicked".into(),
    })??;
    clocks.encode = encode_clock;
    if received != p.clip.frame_count {
        return Err(Error::bad_input(
            format!("decoded {received} of {} frames", p.clip.frame_count),
            "the input is truncated or corrupt; re-encode it",
            &cfg.input,
        ));
    }
    if let Some(note) = audio_note {
        p.report.warn("encode", None, note);
    }
    if passthrough > 0 {
        p.report.warn("composite", None, format!("{passthrough} frames outside --frames had no cached result and were copied from the input unchanged"));
    }
    if let Some(r) = &renderer {
        p.report.options["render_adapter"] = r.adapter().into();
    }
    Ok(())
}

type EncoderHandle = std::thread::JoinHandle<Result<(StageClock, Option<String>)>>;

/// Starts the encoder thread; returns once the output is created (or failed to be).
fn spawn_encoder(
    cfg: &RunConfig,
    clip: &ClipSummary,
    audio: Option<&Path>,
) -> Result<(mpsc::SyncSender<Frame>, EncoderHandle)> {
    let (tx, rx) = mpsc::sync_channel::<Frame>(4);
    let (ready_tx, ready_rx) = mpsc::sync_channel::<Result<()>>(1);
    let (output, clip, audio) = (
        cfg.output.clone(),
        clip.clone(),
        audio.map(Path::to_path_buf),
    );
    let settings = SinkSettings { crf: cfg.crf };
    let handle = std::thread::spawn(move || -> Result<(StageClock, Option<String>)> {
        let (mut sink, note) = match Sink::create(&output, &clip, settings, audio.as_deref()) {
            Ok(s) => {
                let _ = ready_tx.send(Ok(()));
                s
            }
            Err(e) => {
                let _ = ready_tx.send(Err(e));
                return Ok((StageClock::new("encode"), None));
            }
        };
        let mut clock = StageClock::new("encode");
        for frame in rx {
            clock.time(|| sink.write(&frame))?;
            clock.processed += 1;
        }
        clock.time(|| sink.finish())?;
        Ok((clock, note))
    });
    ready_rx.recv().map_err(|_| Error::Render {
        detail: "encoder thread stopped".into(),
    })??;
    Ok((tx, handle))
}

fn compute_frame(
    p: &Prepared,
    cfg: &RunConfig,
    frame: &Frame,
    (renders, composites): (&ArtefactStore, &ArtefactStore),
    renderer: &mut Option<RenderStage>,
    clocks: &mut Clocks,
) -> Result<Patch> {
    let cached = if cfg.force {
        None
    } else {
        renders.load(frame.nr, &p.render_key)
    };
    let layers = match cached.and_then(|a| layers_of(&a)) {
        Some(layers) => {
            clocks.render.reused += 1;
            layers
        }
        None => {
            let layers = clocks.render.time(|| render_frame(p, frame, renderer))?;
            renders.store(frame.nr, &p.render_key, &artefact_of_layers(&layers))?;
            clocks.render.processed += 1;
            layers
        }
    };
    let patch = clocks
        .composite
        .time(|| composite::composite(&frame.rgb, &layers, frame.nr, &cfg.composite));
    let images = if patch.rgb.width() == 0 {
        Vec::new()
    } else {
        vec![("patch".into(), patch.rgb.clone().into())]
    };
    composites.store(
        frame.nr,
        &p.composite_key,
        &Artefact {
            origin_px: patch.origin_px,
            images,
        },
    )?;
    clocks.composite.processed += 1;
    Ok(patch)
}

fn render_frame(
    p: &Prepared,
    frame: &Frame,
    renderer: &mut Option<RenderStage>,
) -> Result<RenderLayers> {
    let pose = p.track.pose(frame.nr).ok_or(Error::InvalidTrack {
        detail: format!("no pose for frame {}", frame.nr),
        path: p.workdir.file("track.json"),
    })?;
    if renderer.is_none() {
        *renderer = Some(RenderStage::new(&p.model, &p.placement, p.clip.size)?);
    }
    match renderer {
        Some(r) => r.render(frame, pose),
        None => Err(Error::Render {
            detail: "renderer unavailable".into(),
        }),
    }
}

/// Layers as an artefact; a frame without the product stores no images.
fn artefact_of_layers(l: &RenderLayers) -> Artefact {
    let images = if l.is_empty() {
        Vec::new()
    } else {
        vec![
            ("rgba".into(), l.rgba.clone().into()),
            ("shadow".into(), l.shadow.clone().into()),
        ]
    };
    Artefact {
        origin_px: l.origin_px,
        images,
    }
}

fn layers_of(a: &Artefact) -> Option<RenderLayers> {
    if a.images.is_empty() {
        return Some(RenderLayers::empty());
    }
    let find = |name: &str| a.images.iter().find(|(n, _)| n == name).map(|(_, img)| img);
    Some(RenderLayers {
        origin_px: a.origin_px,
        rgba: find("rgba")?.to_rgba8(),
        shadow: find("shadow")?.to_luma8(),
    })
}

fn load_patch(store: &ArtefactStore, nr: FrameNr, key: &str) -> Result<Patch> {
    let artefact = store.load(nr, key).ok_or_else(|| Error::WorkDir {
        detail: format!("cached result of frame {nr} vanished or is damaged; run again"),
        path: PathBuf::from(format!("frames/composite/{}", nr.stem())),
    })?;
    let rgb = artefact
        .images
        .first()
        .map(|(_, img)| img.to_rgb8())
        .unwrap_or_default();
    Ok(Patch {
        origin_px: artefact.origin_px,
        rgb,
    })
}

/// `vanelia render`: writes each selected frame's layers (`<nr>.rgba.png`, premultiplied, and
/// `<nr>.shadow.png`, multiplicative) into the `--output` directory.
pub fn render_layers(cfg: &RunConfig, progress: &dyn Progress) -> Result<RunReport> {
    let mut p = prepare(cfg, true)?;
    let renders = p.workdir.stage("render")?;
    let mut clock = StageClock::new("render");
    let mut renderer: Option<RenderStage> = None;
    progress.begin("render", p.range.len());
    for item in p.source.spawn_decoder(4) {
        let frame = item?;
        if !p.range.contains(frame.nr) {
            continue;
        }
        let cached = if cfg.force {
            None
        } else {
            renders.load(frame.nr, &p.render_key)
        };
        let artefact = match cached {
            Some(a) => {
                clock.reused += 1;
                a
            }
            None => {
                let layers = clock.time(|| render_frame(&p, &frame, &mut renderer))?;
                let a = artefact_of_layers(&layers);
                renders.store(frame.nr, &p.render_key, &a)?;
                clock.processed += 1;
                a
            }
        };
        write_full_layers(&cfg.output, frame.nr, &artefact, p.clip.size)?;
        progress.advance("render", 1);
    }
    progress.finish("render");
    p.report.stages = vec![clock.report()];
    p.report.output_written = true;
    p.report.peak_rss_bytes = report::peak_rss_bytes();
    write_json(&cfg.output.join("report.json"), &p.report)?;
    Ok(p.report)
}

/// Expands a cropped artefact to full-frame PNGs.
fn write_full_layers(
    dir: &Path,
    nr: FrameNr,
    a: &Artefact,
    size: crate::core::FrameSize,
) -> Result<()> {
    for (name, img) in &a.images {
        let mut full = match img {
            image::DynamicImage::ImageLuma8(_) => image::DynamicImage::ImageLuma8(
                image::GrayImage::from_pixel(size.width, size.height, image::Luma([255])),
            ),
            _ => image::DynamicImage::ImageRgba8(image::RgbaImage::new(size.width, size.height)),
        };
        image::imageops::replace(
            &mut full,
            img,
            i64::from(a.origin_px[0]),
            i64::from(a.origin_px[1]),
        );
        let path = dir.join(format!("{}.{name}.png", nr.stem()));
        let tmp = crate::core::atomic::temp_path(&path);
        full.save(&tmp).map_err(|source| Error::Image {
            op: "write",
            path: tmp.clone(),
            source,
        })?;
        crate::core::atomic::commit(&tmp, &path)?;
    }
    Ok(())
}

fn json_string<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

fn write_json<T: serde::Serialize>(path: &Path, v: &T) -> Result<()> {
    let text = serde_json::to_vec_pretty(v).map_err(|e| Error::WorkDir {
        detail: e.to_string(),
        path: path.into(),
    })?;
    crate::core::atomic::write(path, &text)
}

/// The report's path: `<output stem>.report.json` beside a video, `report.json` in a
/// sequence's directory.
pub fn report_path(output: &Path) -> PathBuf {
    match crate::video::image_seq::SeqPattern::parse(output) {
        Some(p) => p.path_of(0).with_file_name("report.json"),
        None => output.with_extension("report.json"),
    }
}

fn write_report(report: &RunReport, output: &Path) -> Result<()> {
    write_json(&report_path(output), report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_selection_parses_and_checks_bounds() {
        let all = FrameSelection::parse(None).unwrap();
        assert_eq!(all.resolve(48).unwrap(), FrameRange { first: 0, end: 48 });
        let r = FrameSelection::parse(Some("10..20")).unwrap();
        assert_eq!(r.resolve(48).unwrap(), FrameRange { first: 10, end: 20 });
        assert_eq!(
            FrameSelection::parse(Some("40.."))
                .unwrap()
                .resolve(48)
                .unwrap()
                .len(),
            8
        );
        assert!(FrameSelection::parse(Some("5")).is_err());
        let e = FrameSelection::parse(Some("40..60"))
            .unwrap()
            .resolve(48)
            .unwrap_err()
            .to_string();
        assert!(e.contains("frames 0..48"), "{e}");
        assert!(FrameSelection::parse(Some("20..10"))
            .unwrap()
            .resolve(48)
            .is_err());
    }
}
