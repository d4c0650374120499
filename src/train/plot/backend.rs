//! plotters' bitmap backend with text drawn in the embedded pixel font ([`super::font`]):
//! everything else goes to the bitmap backend. Without a font feature plotters panics when it is
//! asked to draw text, so every label of the chart (ticks, axis names, legend, caption) has to
//! come through here.

use plotters::backend::{BitMapBackend, DrawingBackend, RGBPixel};
use plotters_backend::text_anchor::{HPos, VPos};
use plotters_backend::{
    BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingErrorKind,
};

use super::font;

pub struct Labelled<'a> {
    pub inner: Inner<'a>,
}

type Inner<'a> = BitMapBackend<'a, RGBPixel>;
type Error<'a> = <Inner<'a> as DrawingBackend>::ErrorType;
type Result<'a, T> = std::result::Result<T, DrawingErrorKind<Error<'a>>>;

impl<'a> DrawingBackend for Labelled<'a> {
    type ErrorType = Error<'a>;

    fn get_size(&self) -> (u32, u32) {
        self.inner.get_size()
    }

    fn ensure_prepared(&mut self) -> Result<'a, ()> {
        self.inner.ensure_prepared()
    }

    fn present(&mut self) -> Result<'a, ()> {
        self.inner.present()
    }

    fn draw_pixel(&mut self, point: BackendCoord, color: BackendColor) -> Result<'a, ()> {
        self.inner.draw_pixel(point, color)
    }

    fn draw_line<S: BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> Result<'a, ()> {
        self.inner.draw_line(from, to, style)
    }

    fn draw_rect<S: BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> Result<'a, ()> {
        self.inner.draw_rect(upper_left, bottom_right, style, fill)
    }

    fn draw_path<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        style: &S,
    ) -> Result<'a, ()> {
        self.inner.draw_path(path, style)
    }

    fn draw_circle<S: BackendStyle>(
        &mut self,
        center: BackendCoord,
        radius: u32,
        style: &S,
        fill: bool,
    ) -> Result<'a, ()> {
        self.inner.draw_circle(center, radius, style, fill)
    }

    fn fill_polygon<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        vert: I,
        style: &S,
    ) -> Result<'a, ()> {
        self.inner.fill_polygon(vert, style)
    }

    fn draw_text<T: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &T,
        pos: BackendCoord,
    ) -> Result<'a, ()> {
        let color = style.color();
        if color.alpha == 0.0 {
            return Ok(());
        }
        let scale = font::scale(style.size());
        let (w, h) = font::text_size(text, scale);
        // Anchored as plotters' own text: the box is placed, then turned about `pos`.
        let dx = match style.anchor().h_pos {
            HPos::Left => 0,
            HPos::Right => -w,
            HPos::Center => -w / 2,
        };
        let dy = match style.anchor().v_pos {
            VPos::Top => 0,
            VPos::Center => -h / 2,
            VPos::Bottom => -h,
        };
        let turn = style.transform();
        let (iw, ih) = self.get_size();
        font::draw(text, scale, |x, y| {
            let (x, y) = turn.transform(x + dx, y + dy);
            let (x, y) = (pos.0 + x, pos.1 + y);
            if x >= 0 && y >= 0 && (x as u32) < iw && (y as u32) < ih {
                self.inner.draw_pixel((x, y), color)
            } else {
                Ok(())
            }
        })
    }

    fn estimate_text_size<T: BackendTextStyle>(
        &self,
        text: &str,
        style: &T,
    ) -> Result<'a, (u32, u32)> {
        let (w, h) = font::text_size(text, font::scale(style.size()));
        Ok((w as u32, h as u32))
    }
}
