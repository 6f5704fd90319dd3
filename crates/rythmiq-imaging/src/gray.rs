//! The 8-bit grey image every stage works on.

/// Row-major 8-bit grey pixels, 0 = black, 255 = white, no padding between rows.
#[derive(Clone, PartialEq, Eq)]
pub struct GrayImage {
    width: u32,
    height: u32,
    data: Vec<u8>,
}

impl std::fmt::Debug for GrayImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GrayImage({}x{})", self.width, self.height)
    }
}

impl GrayImage {
    /// Wraps `data`, which must hold exactly `width * height` bytes.
    pub fn from_raw(width: u32, height: u32, data: Vec<u8>) -> Option<GrayImage> {
        (data.len() == width as usize * height as usize && width > 0 && height > 0).then_some(GrayImage {
            width,
            height,
            data,
        })
    }

    /// A `width` x `height` image filled with `value`.
    pub fn filled(width: u32, height: u32, value: u8) -> GrayImage {
        GrayImage { width, height, data: vec![value; width as usize * height as usize] }
    }

    pub fn width(&self) -> u32 {
        self.width
    }

    pub fn height(&self) -> u32 {
        self.height
    }

    pub fn pixels(&self) -> &[u8] {
        &self.data
    }

    pub fn pixels_mut(&mut self) -> &mut [u8] {
        &mut self.data
    }

    pub fn into_raw(self) -> Vec<u8> {
        self.data
    }

    #[inline]
    pub fn get(&self, x: u32, y: u32) -> u8 {
        self.data[y as usize * self.width as usize + x as usize]
    }

    #[inline]
    pub fn set(&mut self, x: u32, y: u32, value: u8) {
        let w = self.width as usize;
        self.data[y as usize * w + x as usize] = value;
    }

    pub fn row(&self, y: u32) -> &[u8] {
        let w = self.width as usize;
        &self.data[y as usize * w..(y as usize + 1) * w]
    }

    pub fn n_pixels(&self) -> u64 {
        self.width as u64 * self.height as u64
    }
}
