//! Procedural rendering of the lighthouse scene: sky, sun or moon, stars, clouds, sea, a rocky
//! headland, a keeper's house and a striped tower whose lamp throws a beam after dark.
//!
//! Everything is plain arithmetic on a float buffer driven by a seeded hash, so the same
//! `Scene` gives the same pixels on every run. Scene space is measured in image heights:
//! y runs from 0 (top) to 1 (bottom), x from 0 to the aspect ratio.

use image::RgbImage;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Time {
    Dawn,
    Day,
    Golden,
    Sunset,
    Dusk,
    Night,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Weather {
    Clear,
    Cloudy,
    Rain,
    Fog,
    Storm,
}

#[derive(Clone, Copy, Debug)]
pub struct Scene {
    pub width: u32,
    pub height: u32,
    pub time: Time,
    pub weather: Weather,
    /// Tower axis, as a fraction of the image width.
    pub tower_x: f32,
    /// Tower height, as a fraction of the image height.
    pub zoom: f32,
    /// Horizon line, as a fraction of the image height.
    pub horizon: f32,
    /// The headland enters from the left edge (else from the right).
    pub cliff_left: bool,
    /// Direction of the main beam in radians (0 = to the right, positive = downwards).
    pub beam_angle: f32,
    /// Sun or moon position, as fractions of width and height.
    pub sky_light: (f32, f32),
    pub seed: u32,
}

type Rgb = [f32; 3];

fn mix(a: Rgb, b: Rgb, t: f32) -> Rgb {
    [
        a[0] + (b[0] - a[0]) * t,
        a[1] + (b[1] - a[1]) * t,
        a[2] + (b[2] - a[2]) * t,
    ]
}

fn scale(a: Rgb, s: f32) -> Rgb {
    [a[0] * s, a[1] * s, a[2] * s]
}

fn mul(a: Rgb, b: Rgb) -> Rgb {
    [a[0] * b[0], a[1] * b[1], a[2] * b[2]]
}

fn add(a: Rgb, b: Rgb) -> Rgb {
    [a[0] + b[0], a[1] + b[1], a[2] + b[2]]
}

fn smoothstep(e0: f32, e1: f32, x: f32) -> f32 {
    let t = ((x - e0) / (e1 - e0)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

fn hash(x: i32, y: i32, seed: u32) -> f32 {
    let mut h = (x as u32).wrapping_mul(0x8da6_b343)
        ^ (y as u32).wrapping_mul(0xd816_3841)
        ^ seed.wrapping_mul(0xcb1a_b31f);
    h ^= h >> 13;
    h = h.wrapping_mul(0x5bd1_e995);
    h ^= h >> 15;
    (h & 0x00ff_ffff) as f32 / 16_777_216.0
}

fn value_noise(x: f32, y: f32, seed: u32) -> f32 {
    let (xf, yf) = (x.floor(), y.floor());
    let (xi, yi) = (xf as i32, yf as i32);
    let (tx, ty) = (x - xf, y - yf);
    let (sx, sy) = (tx * tx * (3.0 - 2.0 * tx), ty * ty * (3.0 - 2.0 * ty));
    let a = hash(xi, yi, seed);
    let b = hash(xi + 1, yi, seed);
    let c = hash(xi, yi + 1, seed);
    let d = hash(xi + 1, yi + 1, seed);
    let top = a + (b - a) * sx;
    let bottom = c + (d - c) * sx;
    top + (bottom - top) * sy
}

/// Fractal sum of value noise in [0, 1].
fn fbm(x: f32, y: f32, seed: u32, octaves: u32) -> f32 {
    let (mut sum, mut amp, mut freq, mut norm) = (0.0, 0.5, 1.0, 0.0);
    for o in 0..octaves {
        sum += amp * value_noise(x * freq, y * freq, seed.wrapping_add(o * 101));
        norm += amp;
        amp *= 0.5;
        freq *= 2.03;
    }
    sum / norm
}

/// A small deterministic generator (SplitMix64) for placing stars and rain.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9e37_79b9_7f4a_7c15)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }
}

/// Colours that depend on the time of day.
struct Palette {
    sky_top: Rgb,
    sky_mid: Rgb,
    sky_horizon: Rgb,
    sun: Rgb,
    sea_deep: Rgb,
    /// Multiplies every lit surface (rock, grass, tower).
    light: Rgb,
    cloud_lit: Rgb,
    cloud_shade: Rgb,
    lamp_on: bool,
    stars: bool,
}

fn palette(time: Time) -> Palette {
    match time {
        Time::Dawn => Palette {
            sky_top: [0.24, 0.30, 0.56],
            sky_mid: [0.74, 0.56, 0.68],
            sky_horizon: [1.00, 0.78, 0.58],
            sun: [1.0, 0.85, 0.6],
            sea_deep: [0.10, 0.16, 0.30],
            light: [0.85, 0.74, 0.76],
            cloud_lit: [1.0, 0.76, 0.70],
            cloud_shade: [0.45, 0.40, 0.55],
            lamp_on: true,
            stars: false,
        },
        Time::Day => Palette {
            sky_top: [0.18, 0.42, 0.80],
            sky_mid: [0.42, 0.66, 0.92],
            sky_horizon: [0.80, 0.89, 0.96],
            sun: [1.0, 0.98, 0.9],
            sea_deep: [0.03, 0.22, 0.40],
            light: [1.0, 1.0, 0.97],
            cloud_lit: [1.0, 1.0, 1.0],
            cloud_shade: [0.66, 0.71, 0.80],
            lamp_on: false,
            stars: false,
        },
        Time::Golden => Palette {
            sky_top: [0.26, 0.46, 0.78],
            sky_mid: [0.66, 0.72, 0.82],
            sky_horizon: [1.00, 0.86, 0.60],
            sun: [1.0, 0.9, 0.65],
            sea_deep: [0.06, 0.22, 0.36],
            light: [1.05, 0.90, 0.72],
            cloud_lit: [1.0, 0.92, 0.75],
            cloud_shade: [0.62, 0.60, 0.66],
            lamp_on: false,
            stars: false,
        },
        Time::Sunset => Palette {
            sky_top: [0.16, 0.15, 0.40],
            sky_mid: [0.82, 0.36, 0.42],
            sky_horizon: [1.00, 0.62, 0.26],
            sun: [1.0, 0.72, 0.35],
            sea_deep: [0.10, 0.10, 0.24],
            light: [0.95, 0.62, 0.50],
            cloud_lit: [1.0, 0.58, 0.40],
            cloud_shade: [0.38, 0.22, 0.38],
            lamp_on: true,
            stars: false,
        },
        Time::Dusk => Palette {
            sky_top: [0.04, 0.06, 0.20],
            sky_mid: [0.14, 0.18, 0.42],
            sky_horizon: [0.58, 0.38, 0.48],
            sun: [0.9, 0.6, 0.5],
            sea_deep: [0.03, 0.05, 0.14],
            light: [0.36, 0.38, 0.56],
            cloud_lit: [0.55, 0.42, 0.58],
            cloud_shade: [0.14, 0.15, 0.28],
            lamp_on: true,
            stars: true,
        },
        Time::Night => Palette {
            sky_top: [0.008, 0.015, 0.05],
            sky_mid: [0.03, 0.05, 0.13],
            sky_horizon: [0.08, 0.12, 0.23],
            sun: [0.92, 0.94, 1.0],
            sea_deep: [0.01, 0.02, 0.06],
            light: [0.16, 0.18, 0.30],
            cloud_lit: [0.32, 0.36, 0.48],
            cloud_shade: [0.05, 0.06, 0.11],
            lamp_on: true,
            stars: true,
        },
    }
}

/// How weather changes the light: (brightness, desaturation, cloud threshold).
fn weather_look(w: Weather) -> (f32, f32, f32) {
    match w {
        Weather::Clear => (1.0, 0.0, 0.66),
        Weather::Cloudy => (0.86, 0.30, 0.44),
        Weather::Rain => (0.66, 0.50, 0.34),
        Weather::Fog => (0.92, 0.55, 0.52),
        Weather::Storm => (0.48, 0.55, 0.26),
    }
}

fn desaturate(c: Rgb, amount: f32) -> Rgb {
    let l = 0.3 * c[0] + 0.59 * c[1] + 0.11 * c[2];
    mix(c, [l, l, l], amount)
}

/// The headland profile: where land starts (y of the ground) at scene column x.
struct Headland {
    left: bool,
    aspect: f32,
    /// Distance from the land edge of the image to the top of the cliff face.
    plateau: f32,
    /// Width of the cliff face.
    face: f32,
    plateau_y: f32,
    foot_y: f32,
    seed: u32,
}

impl Headland {
    /// Distance into the picture from the image edge the land starts at.
    fn depth(&self, x: f32) -> f32 {
        if self.left { x } else { self.aspect - x }
    }

    fn ground_y(&self, x: f32) -> f32 {
        let d = self.depth(x);
        let rough = fbm(d * 9.0, 0.5, self.seed, 4) - 0.5;
        if d < self.plateau {
            self.plateau_y + 0.012 * rough + 0.01 * (d / self.plateau)
        } else if d < self.plateau + self.face {
            let t = (d - self.plateau) / self.face;
            let drop = t.powf(0.6);
            let jag = fbm(d * 40.0, 1.5, self.seed, 3) - 0.5;
            self.plateau_y
                + 0.01
                + (self.foot_y - self.plateau_y) * drop
                + (0.05 * rough + 0.03 * jag) * t.sqrt()
        } else {
            // A rocky foreshore sloping down out of the picture.
            let t = d - self.plateau - self.face;
            let jag = fbm(d * 30.0, 2.5, self.seed, 3) - 0.5;
            self.foot_y + t * 1.6 + 0.03 * rough + 0.025 * jag
        }
    }
}

pub fn render(s: &Scene) -> RgbImage {
    let (w, h) = (s.width as usize, s.height as usize);
    let hf = s.height as f32;
    let px = 1.0 / hf;
    let aspect = s.width as f32 / hf;
    let pal = palette(s.time);
    let (bright, desat, cloud_th) = weather_look(s.weather);
    let overcast = !matches!(s.weather, Weather::Clear);
    let tint = |c: Rgb| desaturate(scale(c, bright), desat);

    let sky_top = tint(pal.sky_top);
    let sky_mid = tint(pal.sky_mid);
    let sky_horizon = tint(pal.sky_horizon);
    let light = tint(pal.light);
    let (sun_x, sun_y) = (s.sky_light.0 * aspect, s.sky_light.1);
    let night_like = matches!(s.time, Time::Night | Time::Dusk);
    let sun_r = if night_like { 0.028 } else { 0.045 };

    let tower_base_x = s.tower_x * aspect;
    let land = Headland {
        left: s.cliff_left,
        aspect,
        plateau: if s.cliff_left {
            tower_base_x + 0.12 * s.zoom
        } else {
            aspect - tower_base_x + 0.12 * s.zoom
        },
        face: 0.10 + 0.1 * s.zoom,
        plateau_y: s.horizon + 0.06 + 0.18 * (1.0 - s.horizon),
        foot_y: s.horizon + 0.40 * (1.0 - s.horizon),
        seed: s.seed ^ 0x51,
    };

    let mut buf: Vec<Rgb> = vec![[0.0; 3]; w * h];

    // Sky, sun glow, clouds and sea, pixel by pixel.
    for j in 0..h {
        let y = (j as f32 + 0.5) * px;
        for i in 0..w {
            let x = (i as f32 + 0.5) * px;
            let c = if y < s.horizon {
                sky_pixel(
                    s,
                    &pal,
                    x,
                    y,
                    [sky_top, sky_mid, sky_horizon],
                    (sun_x, sun_y, sun_r),
                    cloud_th,
                    overcast,
                    bright,
                    desat,
                )
            } else {
                sea_pixel(
                    s,
                    &pal,
                    x,
                    y,
                    px,
                    sky_horizon,
                    (sun_x, sun_y),
                    overcast,
                    bright,
                    desat,
                )
            };
            buf[j * w + i] = c;
        }
    }

    if pal.stars && !matches!(s.weather, Weather::Storm | Weather::Rain | Weather::Fog) {
        draw_stars(s, &mut buf, w, h);
    }

    // Land: rock with strata, grass on top, foam where it meets the sea.
    for j in 0..h {
        let y = (j as f32 + 0.5) * px;
        for i in 0..w {
            let x = (i as f32 + 0.5) * px;
            let gy = land.ground_y(x);
            let cover = ((y - gy) / px + 0.5).clamp(0.0, 1.0);
            let foam_band = (1.0 - (gy - y) / 0.012).clamp(0.0, 1.0);
            let d = land.depth(x);
            let idx = j * w + i;
            if cover > 0.0 {
                let strata = fbm(d * 3.0, y * 40.0, s.seed ^ 0x77, 3);
                let grain = fbm(x * 60.0, y * 60.0, s.seed ^ 0x78, 2);
                let blocks = fbm(x * 14.0, y * 10.0, s.seed ^ 0x79, 4);
                // Cracks: thin dark lines where a ridged noise crosses its middle.
                let crack = smoothstep(
                    0.02,
                    0.0,
                    (fbm(x * 22.0, y * 3.0, s.seed ^ 0x7a, 3) - 0.5).abs(),
                );
                let rock = mix(
                    [0.26, 0.23, 0.22],
                    [0.56, 0.50, 0.44],
                    strata * 0.45 + blocks * 0.35 + grain * 0.2,
                );
                let rock = scale(rock, 1.0 - 0.25 * crack);
                let under = y - gy;
                let ragged = 0.012 * (fbm(x * 40.0, 3.0, s.seed ^ 0x7b, 3) - 0.3);
                let grass_depth = if d < land.plateau {
                    0.035 + ragged
                } else {
                    0.004
                };
                let g = smoothstep(grass_depth, grass_depth * 0.5, under);
                let grass = mix(
                    [0.18, 0.34, 0.14],
                    [0.38, 0.56, 0.22],
                    grain * 0.6 + blocks * 0.4,
                );
                let mut c = mix(rock, grass, g);
                // Shade the cliff face (away from the viewer) and the foreground.
                let face_shade =
                    1.0 - 0.3 * smoothstep(land.plateau - 0.01, land.plateau + 0.04, d);
                let depth_shade = 1.0 - 0.4 * smoothstep(land.plateau_y, 1.0, y);
                c = scale(mul(c, light), face_shade * depth_shade);
                buf[idx] = mix(buf[idx], c, cover);
            } else if d > land.plateau && foam_band > 0.0 && y > s.horizon {
                let n = fbm(x * 80.0, y * 30.0, s.seed ^ 0x99, 3);
                let foam = smoothstep(0.45, 0.7, n) * foam_band;
                buf[idx] = mix(
                    buf[idx],
                    scale(mul([0.9, 0.93, 0.95], light), 1.1),
                    foam * 0.8,
                );
            }
        }
    }

    draw_house(s, &land, &mut buf, w, h, light, pal.lamp_on);
    let lamp = draw_tower(s, &land, &mut buf, w, h, light, (sun_x, sun_y), pal.lamp_on);
    if pal.lamp_on {
        draw_beam(s, &mut buf, w, h, lamp);
    }
    if matches!(s.weather, Weather::Rain | Weather::Storm) {
        draw_rain(s, &mut buf, w, h);
    }

    // Fog, vignette, grain, and out to 8 bits.
    let fog_colour = scale(
        mix(sky_horizon, [0.8, 0.82, 0.84], 0.5),
        if night_like { 0.4 } else { 1.0 },
    );
    let mut out = RgbImage::new(s.width, s.height);
    for j in 0..h {
        let y = (j as f32 + 0.5) * px;
        for i in 0..w {
            let x = (i as f32 + 0.5) * px;
            let mut c = buf[j * w + i];
            if s.weather == Weather::Fog {
                let near_horizon = 1.0 - ((y - s.horizon).abs() / 0.6).min(1.0);
                let wisp = fbm(x * 3.0, y * 8.0, s.seed ^ 0x55, 4);
                let f = (0.35 + 0.45 * near_horizon + 0.25 * (wisp - 0.5)).clamp(0.0, 0.9);
                c = mix(c, fog_colour, f);
            }
            let (dx, dy) = (x / aspect - 0.5, y - 0.5);
            let vignette = 1.0 - 0.45 * (dx * dx + dy * dy);
            let grain = (hash(i as i32, j as i32, s.seed ^ 0xabc) - 0.5) * (1.6 / 255.0);
            let p = out.get_pixel_mut(i as u32, j as u32);
            for (k, channel) in c.iter().enumerate() {
                let v = (channel * vignette + grain).clamp(0.0, 1.0);
                p.0[k] = (v * 255.0 + 0.5) as u8;
            }
        }
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn sky_pixel(
    s: &Scene,
    pal: &Palette,
    x: f32,
    y: f32,
    grad: [Rgb; 3],
    sun: (f32, f32, f32),
    cloud_th: f32,
    overcast: bool,
    bright: f32,
    desat: f32,
) -> Rgb {
    let t = (y / s.horizon).clamp(0.0, 1.0);
    let mut c = if t < 0.55 {
        mix(grad[0], grad[1], smoothstep(0.0, 0.55, t))
    } else {
        mix(grad[1], grad[2], smoothstep(0.55, 1.0, t))
    };
    let (sx, sy, sr) = sun;
    let d = ((x - sx) * (x - sx) + (y - sy) * (y - sy)).sqrt();
    let veil = if overcast { 0.35 } else { 1.0 };
    // Glow around the sun or moon, then the disc itself.
    let glow = (-d / (sr * 3.0)).exp() * 0.55 + (-d / (sr * 12.0)).exp() * 0.25;
    c = add(c, scale(pal.sun, glow * veil * bright));
    let disc = smoothstep(sr + 0.002, sr - 0.002, d) * veil;
    c = mix(c, scale(pal.sun, 1.1), disc);

    // Clouds: horizontally stretched fractal noise, thinning towards the horizon.
    let n = fbm(x * 2.2 + 7.0, y * 7.0, s.seed ^ 0x33, 5);
    let band = 1.0 - smoothstep(s.horizon * 0.55, s.horizon, y) * 0.6;
    let density = smoothstep(cloud_th, cloud_th + 0.22, n * band + 0.05);
    if density > 0.0 {
        // Light from above: compare with the noise a little higher up.
        let above = fbm(x * 2.2 + 7.0, (y - 0.015) * 7.0, s.seed ^ 0x33, 5);
        let lit = (0.5 + (n - above) * 6.0).clamp(0.0, 1.0);
        let sun_side = (-((x - sx).abs()) * 1.5).exp() * if overcast { 0.3 } else { 0.6 };
        let cloud = mix(
            pal.cloud_shade,
            pal.cloud_lit,
            (lit * 0.7 + sun_side).min(1.0),
        );
        let cloud = desaturate(scale(cloud, bright), desat * 0.6);
        c = mix(c, cloud, density * 0.92);
    }
    c
}

#[allow(clippy::too_many_arguments)]
fn sea_pixel(
    s: &Scene,
    pal: &Palette,
    x: f32,
    y: f32,
    px: f32,
    sky_horizon: Rgb,
    sun: (f32, f32),
    overcast: bool,
    bright: f32,
    desat: f32,
) -> Rgb {
    let depth = (y - s.horizon).max(px * 0.5);
    let z = (depth / (1.0 - s.horizon)).min(1.0);
    let deep = desaturate(scale(pal.sea_deep, bright), desat);
    let mut c = mix(scale(sky_horizon, 0.85), deep, smoothstep(0.0, 0.55, z));
    // Perspective: waves shrink towards the horizon.
    let wx = (x - 0.5) / depth * 0.35;
    let wz = 1.0 / depth * 0.08;
    let rough = if matches!(s.weather, Weather::Storm) {
        1.6
    } else {
        1.0
    };
    let wave = fbm(wx * 6.0, wz * 40.0, s.seed ^ 0x11, 4);
    let ripple = (wave - 0.5) * 0.22 * rough;
    c = scale(c, 1.0 + ripple);
    // Glitter path under the sun or moon.
    let (sx, _) = sun;
    let spread = 0.02 + 0.3 * z;
    let path = (-((x - sx) / spread).powi(2)).exp();
    let sparkle = smoothstep(0.52, 0.72, wave) * path * if overcast { 0.25 } else { 0.9 };
    c = add(c, scale(pal.sun, sparkle * bright));
    // White caps in rough weather.
    if matches!(s.weather, Weather::Storm | Weather::Rain) {
        let cap = smoothstep(0.7, 0.8, fbm(wx * 14.0, wz * 90.0, s.seed ^ 0x12, 3));
        c = mix(c, scale([0.8, 0.84, 0.88], bright), cap * 0.5);
    }
    c
}

fn draw_stars(s: &Scene, buf: &mut [Rgb], w: usize, h: usize) {
    let mut rng = Rng::new(u64::from(s.seed) * 31 + 7);
    let count = w * h / 350;
    let horizon_px = s.horizon * h as f32;
    for _ in 0..count {
        let x = rng.unit() * w as f32;
        let y = rng.unit().powf(1.4) * horizon_px;
        let b = rng.unit().powi(3) * 0.9 + 0.08;
        let fade = 1.0 - smoothstep(0.6, 1.0, y / horizon_px);
        let colour = mix([1.0, 0.92, 0.8], [0.8, 0.88, 1.0], rng.unit());
        splat(buf, w, h, x, y, 0.6 + b, scale(colour, b * fade));
    }
}

/// Additive round dot of the given radius in pixels.
fn splat(buf: &mut [Rgb], w: usize, h: usize, cx: f32, cy: f32, r: f32, colour: Rgb) {
    let reach = (r * 2.5).ceil() as i32;
    for dj in -reach..=reach {
        for di in -reach..=reach {
            let (i, j) = (cx as i32 + di, cy as i32 + dj);
            if i < 0 || j < 0 || i >= w as i32 || j >= h as i32 {
                continue;
            }
            let (dx, dy) = (i as f32 + 0.5 - cx, j as f32 + 0.5 - cy);
            let k = (-(dx * dx + dy * dy) / (r * r)).exp();
            let p = &mut buf[j as usize * w + i as usize];
            *p = add(*p, scale(colour, k));
        }
    }
}

/// Fills every pixel whose centre lies inside `inside(x, y)` (scene units) within the box,
/// blending `colour(x, y)` by an edge coverage estimated from a 2x2 sub-sample.
#[allow(clippy::too_many_arguments)]
fn fill(
    buf: &mut [Rgb],
    w: usize,
    h: usize,
    bbox: (f32, f32, f32, f32),
    inside: impl Fn(f32, f32) -> bool,
    colour: impl Fn(f32, f32) -> Rgb,
) {
    let hf = h as f32;
    let i0 = ((bbox.0 * hf).floor().max(0.0)) as usize;
    let i1 = ((bbox.2 * hf).ceil().max(0.0) as usize).min(w);
    let j0 = ((bbox.1 * hf).floor().max(0.0)) as usize;
    let j1 = ((bbox.3 * hf).ceil().max(0.0) as usize).min(h);
    for j in j0..j1 {
        for i in i0..i1 {
            let mut cover = 0.0;
            for (ox, oy) in [(0.25, 0.25), (0.75, 0.25), (0.25, 0.75), (0.75, 0.75)] {
                if inside((i as f32 + ox) / hf, (j as f32 + oy) / hf) {
                    cover += 0.25;
                }
            }
            if cover > 0.0 {
                let (x, y) = ((i as f32 + 0.5) / hf, (j as f32 + 0.5) / hf);
                let p = &mut buf[j * w + i];
                *p = mix(*p, colour(x, y), cover);
            }
        }
    }
}

fn draw_house(
    s: &Scene,
    land: &Headland,
    buf: &mut [Rgb],
    w: usize,
    h: usize,
    light: Rgb,
    lamp_on: bool,
) {
    let tower_x = s.tower_x * land.aspect;
    let side = if s.cliff_left { -1.0 } else { 1.0 };
    let hw = 0.11 * s.zoom;
    let cx = tower_x + side * 0.2 * s.zoom;
    let (x0, x1) = (cx - hw, cx + hw);
    let ground = land.ground_y(x0).max(land.ground_y(x1)) + 0.004;
    let wall_h = 0.10 * s.zoom;
    let roof_h = 0.07 * s.zoom;
    let top = ground - wall_h;
    fill(
        buf,
        w,
        h,
        (x0, top, x1, ground),
        |x, y| x >= x0 && x <= x1 && y >= top && y <= ground,
        |x, y| {
            let window = {
                let wx = ((x - x0) / (x1 - x0) * 4.0).fract();
                let wy = (y - top) / wall_h;
                (0.3..0.7).contains(&wx)
                    && (0.3..0.65).contains(&wy)
                    && ((x - x0) / (x1 - x0)) > 0.2
            };
            if window {
                if lamp_on {
                    [1.0, 0.8, 0.45]
                } else {
                    scale([0.15, 0.2, 0.28], light[1])
                }
            } else {
                let shade = if (x - cx) * side > 0.0 { 0.8 } else { 1.0 };
                scale(mul([0.92, 0.9, 0.84], light), shade)
            }
        },
    );
    let (rx0, rx1) = (x0 - 0.012 * s.zoom, x1 + 0.012 * s.zoom);
    fill(
        buf,
        w,
        h,
        (rx0, top - roof_h, rx1, top + 0.002),
        |x, y| {
            let t = (top - y) / roof_h;
            let half = (rx1 - rx0) * 0.5 * (1.0 - t);
            (0.0..=1.0).contains(&t) && (x - (rx0 + rx1) * 0.5).abs() <= half
        },
        |x, _| {
            let shade = if (x - cx) * side > 0.0 { 0.75 } else { 1.0 };
            scale(mul([0.55, 0.18, 0.14], light), shade)
        },
    );
}

/// Draws the tower and returns the lamp centre in pixels.
#[allow(clippy::too_many_arguments)]
fn draw_tower(
    s: &Scene,
    land: &Headland,
    buf: &mut [Rgb],
    w: usize,
    h: usize,
    light: Rgb,
    sun: (f32, f32),
    lamp_on: bool,
) -> (f32, f32) {
    let tx = s.tower_x * land.aspect;
    let th = s.zoom;
    let base_half = 0.085 * th;
    let top_half = 0.058 * th;
    let base_y = land
        .ground_y(tx - base_half)
        .max(land.ground_y(tx + base_half))
        + 0.01 * th;
    let body_top = base_y - 0.74 * th;
    let gallery_y = body_top - 0.03 * th;
    let lantern_top = gallery_y - 0.12 * th;
    let dome_top = lantern_top - 0.08 * th;
    let sun_dir = (sun.0 - tx).signum();
    // Cylinder shading: light from the side the sun is on.
    let shade = |x: f32, half: f32| {
        let u = ((x - tx) / half).clamp(-1.0, 1.0);
        let n = (1.0 - u * u).sqrt();
        0.45 + 0.55 * (0.55 * n + 0.45 * u * sun_dir).max(0.0)
    };
    let stripes = 5.0;
    fill(
        buf,
        w,
        h,
        (tx - base_half, body_top, tx + base_half, base_y),
        |x, y| {
            let t = (base_y - y) / (base_y - body_top);
            let half = base_half + (top_half - base_half) * t;
            (0.0..=1.0).contains(&t) && (x - tx).abs() <= half
        },
        |x, y| {
            let t = (base_y - y) / (base_y - body_top);
            let half = base_half + (top_half - base_half) * t;
            let band = (t * stripes) as i32;
            let mut c = if band % 2 == 0 {
                [0.78, 0.12, 0.12]
            } else {
                [0.95, 0.94, 0.9]
            };
            // Small windows up the middle of the white bands.
            let in_band = (t * stripes).fract();
            if band % 2 == 1 && (x - tx).abs() < half * 0.12 && (0.35..0.65).contains(&in_band) {
                c = if lamp_on {
                    [0.9, 0.7, 0.35]
                } else {
                    [0.12, 0.14, 0.2]
                };
                return scale(c, 0.9);
            }
            // Door at the foot.
            if t < 0.09 && (x - tx).abs() < half * 0.22 {
                return scale(mul([0.25, 0.16, 0.1], light), 0.8);
            }
            scale(mul(c, light), shade(x, half))
        },
    );
    // Gallery deck and railing.
    let deck_half = top_half * 1.45;
    fill(
        buf,
        w,
        h,
        (tx - deck_half, gallery_y, tx + deck_half, body_top + 0.004),
        |x, y| (x - tx).abs() <= deck_half && y >= gallery_y && y <= body_top + 0.002,
        |x, _| scale(mul([0.18, 0.18, 0.2], light), shade(x, deck_half)),
    );
    let rail_top = gallery_y - 0.035 * th;
    let rail_half = deck_half * 0.95;
    let post = 0.006 * th;
    fill(
        buf,
        w,
        h,
        (tx - rail_half, rail_top, tx + rail_half, gallery_y),
        |x, y| {
            let u = (x - tx + rail_half) / (2.0 * rail_half);
            let on_post = ((u * 8.0).fract() * 2.0 * rail_half / 8.0) < post;
            (x - tx).abs() <= rail_half && (y - rail_top < 0.006 * th || on_post)
        },
        |_, _| scale([0.12, 0.12, 0.14], light[1].max(0.3)),
    );
    // Lantern room: glass that glows when the lamp is on.
    let lantern_half = top_half * 0.82;
    fill(
        buf,
        w,
        h,
        (tx - lantern_half, lantern_top, tx + lantern_half, gallery_y),
        |x, y| (x - tx).abs() <= lantern_half && y >= lantern_top && y <= gallery_y,
        |x, y| {
            let u = (x - tx) / lantern_half;
            let mullion = ((u + 1.0) * 2.5).fract() < 0.1;
            if mullion {
                return [0.08, 0.08, 0.1];
            }
            if lamp_on {
                let v = (y - lantern_top) / (gallery_y - lantern_top);
                let core = 1.0 - (u * u + (v - 0.5) * (v - 0.5) * 2.0).min(1.0);
                mix([1.0, 0.78, 0.35], [1.0, 1.0, 0.92], core)
            } else {
                mix(
                    scale(mul([0.35, 0.45, 0.55], light), 1.2),
                    [0.12, 0.16, 0.22],
                    (u + 1.0) * 0.5,
                )
            }
        },
    );
    // Dome and finial.
    let dome_half = lantern_half * 1.1;
    fill(
        buf,
        w,
        h,
        (
            tx - dome_half,
            dome_top - 0.03 * th,
            tx + dome_half,
            lantern_top + 0.002,
        ),
        |x, y| {
            let u = (x - tx) / dome_half;
            let v = (lantern_top - y) / (lantern_top - dome_top);
            let finial =
                (x - tx).abs() < 0.005 * th && y > dome_top - 0.03 * th && y < dome_top + 0.01;
            finial || (u.abs() <= 1.0 && v >= 0.0 && v <= (1.0 - u * u).max(0.0).sqrt())
        },
        |x, _| scale(mul([0.3, 0.08, 0.08], light), shade(x, dome_half) * 1.1),
    );
    let hf = h as f32;
    (tx * hf, (lantern_top + gallery_y) * 0.5 * hf)
}

fn draw_beam(s: &Scene, buf: &mut [Rgb], w: usize, h: usize, lamp: (f32, f32)) {
    let hf = h as f32;
    let thick = matches!(s.weather, Weather::Fog | Weather::Rain | Weather::Storm);
    let strength = if thick { 0.55 } else { 0.38 };
    let beams = [
        (s.beam_angle, 1.0),
        (s.beam_angle + std::f32::consts::PI, 0.35),
    ];
    let glow_r = 0.05 * s.zoom * hf;
    for j in 0..h {
        for i in 0..w {
            let (dx, dy) = (i as f32 + 0.5 - lamp.0, j as f32 + 0.5 - lamp.1);
            let dist = (dx * dx + dy * dy).sqrt();
            let angle = dy.atan2(dx);
            let mut add_light = 0.0;
            for (a, k) in beams {
                let mut da = (angle - a).rem_euclid(std::f32::consts::TAU);
                if da > std::f32::consts::PI {
                    da -= std::f32::consts::TAU;
                }
                let spread = 0.07 + 0.02 * k;
                let cone = (-(da / spread).powi(2)).exp();
                let fall = 1.0 / (1.0 + dist / (0.6 * hf));
                add_light += cone * fall * k * strength * smoothstep(0.0, glow_r, dist);
            }
            let glow = (-dist / glow_r).exp() * 0.9 + (-dist / (glow_r * 5.0)).exp() * 0.25;
            let p = &mut buf[j * w + i];
            *p = add(*p, scale([1.0, 0.9, 0.62], add_light + glow));
        }
    }
}

fn draw_rain(s: &Scene, buf: &mut [Rgb], w: usize, h: usize) {
    let mut rng = Rng::new(u64::from(s.seed) * 17 + 3);
    let hf = h as f32;
    let count = w * h / 260;
    let slant = 0.22;
    for _ in 0..count {
        let (x0, y0) = (rng.unit() * w as f32, rng.unit() * hf);
        let len = (0.018 + 0.025 * rng.unit()) * hf;
        let alpha = 0.06 + 0.1 * rng.unit();
        let steps = len as i32;
        for k in 0..steps {
            let y = y0 + k as f32;
            let x = x0 - slant * k as f32;
            let (i, j) = (x as i32, y as i32);
            if i < 0 || j < 0 || i >= w as i32 || j >= h as i32 {
                continue;
            }
            let p = &mut buf[j as usize * w + i as usize];
            *p = mix(*p, [0.82, 0.86, 0.9], alpha);
        }
    }
}
