//! Small separable filters on single-channel float planes, used for feathering, rings and
//! light wrap. Borders repeat the edge value.

/// A single-channel float image.
#[derive(Debug, Clone, PartialEq)]
pub struct Plane {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Row-major values.
    pub data: Vec<f32>,
}

impl Plane {
    /// A plane filled by `f(x, y)`.
    pub fn from_fn(width: usize, height: usize, f: impl Fn(usize, usize) -> f32) -> Self {
        let data = (0..width * height)
            .map(|i| f(i % width, i / width))
            .collect();
        Self {
            width,
            height,
            data,
        }
    }

    /// Value at `(x, y)`.
    pub fn at(&self, x: usize, y: usize) -> f32 {
        self.data[y * self.width + x]
    }

    /// Box blur of radius `r` applied `passes` times (3 passes approximate a Gaussian).
    pub fn box_blur(&self, r: usize, passes: usize) -> Plane {
        let mut out = self.clone();
        for _ in 0..passes {
            out = out.blur_rows(r).transposed().blur_rows(r).transposed();
        }
        out
    }

    /// Softens an edge inwards over about `feather_px`: never exceeds the input, so coverage
    /// is never added outside a silhouette (pixels outside stay exactly as they were).
    pub fn feathered_inward(&self, feather_px: f32) -> Plane {
        let r = feather_px.round() as usize;
        if r == 0 {
            return self.clone();
        }
        let blurred = self.box_blur(r.div_ceil(2), 2);
        Plane {
            data: self
                .data
                .iter()
                .zip(&blurred.data)
                .map(|(&a, &b)| a.min(b))
                .collect(),
            ..self.clone()
        }
    }

    fn blur_rows(&self, r: usize) -> Plane {
        let (w, r_i) = (self.width, r as isize);
        let norm = 1.0 / (2 * r + 1) as f32;
        let mut data = Vec::with_capacity(self.data.len());
        for row in self.data.chunks_exact(w.max(1)) {
            let get = |i: isize| row[i.clamp(0, w as isize - 1) as usize];
            let mut acc: f32 = (-r_i..=r_i).map(get).sum();
            for x in 0..w as isize {
                data.push(acc * norm);
                acc += get(x + r_i + 1) - get(x - r_i);
            }
        }
        Plane {
            width: self.width,
            height: self.height,
            data,
        }
    }

    fn transposed(&self) -> Plane {
        Plane::from_fn(self.height, self.width, |x, y| self.at(y, x))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn box_blur_preserves_constants_and_spreads_impulses() {
        let c = Plane::from_fn(7, 5, |_, _| 0.5);
        assert!(c.box_blur(2, 3).data.iter().all(|v| (v - 0.5).abs() < 1e-6));
        let p = Plane::from_fn(9, 9, |x, y| if (x, y) == (4, 4) { 9.0 } else { 0.0 });
        let b = p.box_blur(1, 1);
        assert!((b.at(3, 3) - 1.0).abs() < 1e-6 && b.at(2, 2) == 0.0);
    }
}
