//! Hand-written declarations of the parts of Tesseract's `capi.h` and Leptonica's `allheaders.h` that we call.
//! Checked against Tesseract 5.3 / Leptonica 1.82 (Debian 12); every signature matches the header verbatim.
#![allow(non_camel_case_types, dead_code)]

use std::os::raw::{c_char, c_float, c_int, c_uchar};

#[allow(clippy::upper_case_acronyms)] // the C API's own name
pub type BOOL = c_int;

#[repr(C)]
pub struct TessBaseAPI {
    _private: [u8; 0],
}
#[repr(C)]
pub struct TessResultIterator {
    _private: [u8; 0],
}
#[repr(C)]
pub struct TessPageIterator {
    _private: [u8; 0],
}
#[repr(C)]
pub struct ETEXT_DESC {
    _private: [u8; 0],
}
#[repr(C)]
pub struct Pix {
    _private: [u8; 0],
}

pub const OEM_TESSERACT_ONLY: c_int = 0;
pub const OEM_LSTM_ONLY: c_int = 1;
pub const PSM_OSD_ONLY: c_int = 0;

pub const RIL_BLOCK: c_int = 0;
pub const RIL_PARA: c_int = 1;
pub const RIL_TEXTLINE: c_int = 2;
pub const RIL_WORD: c_int = 3;

// Leptonica image file formats (imageio.h).
pub const IFF_UNKNOWN: c_int = 0;
pub const IFF_JFIF_JPEG: c_int = 2;
pub const IFF_PNG: c_int = 3;
pub const IFF_GIF: c_int = 13;
pub const IFF_LPDF: c_int = 16;
pub const IFF_PS: c_int = 12;
pub const IFF_SPIX: c_int = 19;
pub const L_SEVERITY_NONE: c_int = 6;

extern "C" {
    pub fn TessVersion() -> *const c_char;
    pub fn TessDeleteText(text: *const c_char);
    pub fn TessBaseAPICreate() -> *mut TessBaseAPI;
    pub fn TessBaseAPIDelete(handle: *mut TessBaseAPI);
    pub fn TessBaseAPISetVariable(handle: *mut TessBaseAPI, name: *const c_char, value: *const c_char) -> BOOL;
    pub fn TessBaseAPIInit2(
        handle: *mut TessBaseAPI,
        datapath: *const c_char,
        language: *const c_char,
        oem: c_int,
    ) -> c_int;
    pub fn TessBaseAPISetPageSegMode(handle: *mut TessBaseAPI, mode: c_int);
    pub fn TessBaseAPISetImage(
        handle: *mut TessBaseAPI,
        imagedata: *const c_uchar,
        width: c_int,
        height: c_int,
        bytes_per_pixel: c_int,
        bytes_per_line: c_int,
    );
    pub fn TessBaseAPISetSourceResolution(handle: *mut TessBaseAPI, ppi: c_int);
    pub fn TessBaseAPIRecognize(handle: *mut TessBaseAPI, monitor: *mut ETEXT_DESC) -> c_int;
    pub fn TessBaseAPIGetUTF8Text(handle: *mut TessBaseAPI) -> *mut c_char;
    pub fn TessBaseAPIMeanTextConf(handle: *mut TessBaseAPI) -> c_int;
    pub fn TessBaseAPIGetIterator(handle: *mut TessBaseAPI) -> *mut TessResultIterator;
    pub fn TessBaseAPIClear(handle: *mut TessBaseAPI);
    pub fn TessBaseAPIEnd(handle: *mut TessBaseAPI);
    pub fn TessBaseAPIDetectOrientationScript(
        handle: *mut TessBaseAPI,
        orient_deg: *mut c_int,
        orient_conf: *mut c_float,
        script_name: *mut *const c_char,
        script_conf: *mut c_float,
    ) -> BOOL;

    pub fn TessResultIteratorDelete(handle: *mut TessResultIterator);
    pub fn TessResultIteratorGetPageIterator(handle: *mut TessResultIterator) -> *mut TessPageIterator;
    pub fn TessResultIteratorNext(handle: *mut TessResultIterator, level: c_int) -> BOOL;
    pub fn TessResultIteratorGetUTF8Text(handle: *const TessResultIterator, level: c_int) -> *mut c_char;
    pub fn TessResultIteratorConfidence(handle: *const TessResultIterator, level: c_int) -> c_float;
    pub fn TessPageIteratorIsAtBeginningOf(handle: *const TessPageIterator, level: c_int) -> BOOL;
    pub fn TessPageIteratorBoundingBox(
        handle: *const TessPageIterator,
        level: c_int,
        left: *mut c_int,
        top: *mut c_int,
        right: *mut c_int,
        bottom: *mut c_int,
    ) -> BOOL;

    pub fn TessMonitorCreate() -> *mut ETEXT_DESC;
    pub fn TessMonitorDelete(monitor: *mut ETEXT_DESC);
    pub fn TessMonitorSetDeadlineMSecs(monitor: *mut ETEXT_DESC, deadline: c_int);

    pub fn setMsgSeverity(newsev: c_int) -> c_int;
    pub fn findFileFormatBuffer(buf: *const u8, pformat: *mut c_int) -> c_int;
    pub fn pixReadHeaderMem(
        data: *const u8,
        size: usize,
        pformat: *mut c_int,
        pw: *mut c_int,
        ph: *mut c_int,
        pbps: *mut c_int,
        pspp: *mut c_int,
        piscmap: *mut c_int,
    ) -> c_int;
    pub fn pixReadMem(data: *const u8, size: usize) -> *mut Pix;
    pub fn readHeaderMemTiff(
        cdata: *const u8,
        size: usize,
        n: c_int,
        pw: *mut c_int,
        ph: *mut c_int,
        pbps: *mut c_int,
        pspp: *mut c_int,
        pres: *mut c_int,
        pcmap: *mut c_int,
        pformat: *mut c_int,
    ) -> c_int;
    pub fn pixReadMemTiff(cdata: *const u8, size: usize, n: c_int) -> *mut Pix;
    pub fn pixGetSpp(pix: *const Pix) -> c_int;
    pub fn pixRemoveAlpha(pixs: *mut Pix) -> *mut Pix;
    pub fn pixConvertTo8(pixs: *mut Pix, cmapflag: c_int) -> *mut Pix;
    pub fn pixDestroy(ppix: *mut *mut Pix);
    pub fn pixGetWidth(pix: *const Pix) -> c_int;
    pub fn pixGetHeight(pix: *const Pix) -> c_int;
    pub fn pixGetDepth(pix: *const Pix) -> c_int;
    pub fn pixGetWpl(pix: *const Pix) -> c_int;
    pub fn pixGetXRes(pix: *const Pix) -> c_int;
    pub fn pixGetData(pix: *mut Pix) -> *mut u32;
}
