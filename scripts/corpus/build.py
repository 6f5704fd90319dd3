"""Builds the additions to the bench corpus from local copies of the source files, and (re)assigns every split.

Usage:
    python3 scripts/corpus/build.py SOURCES_DIR          # add documents, rewrite corpus/MANIFEST.tsv
    python3 scripts/corpus/build.py --splits-only        # only recompute the split column

SOURCES_DIR holds the source files laid out as `<owner>+<repo>/<path in that repository>` (copied from the
repositories at the commits recorded below; nothing is downloaded here). Needs Pillow, numpy and pypdfium2 (PyPI).

What it writes:
- more SROIE receipts, ground truth rebuilt into lines from the dataset's own box transcriptions;
- pages of US federal tax forms and their instructions (public domain), rendered at 200 dpi grayscale, ground truth
  being the text the born-digital PDF carries (the publisher's text, not a recognition result);
- two UNLV/ISRI pages shipped with Tesseract's test data and their ground-truth text;
- derived documents (a minority): low-quality scans and photos made from redistributable pages that are NOT
  otherwise in the corpus, by the fixed, seeded transforms in `degrade_scan` and `photograph`; each row names its
  source and transform and keeps the source's licence and ground truth.

The split rule (stated before any result was looked at): within each kind, order the documents by the SHA-256 hex
digest of their file name; the first ceil(n/2) are `holdout`, the rest `tune`. The bench's tests recompute it.
"""
import csv
import hashlib
import io
import math
import os
import shutil
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORPUS = os.path.join(ROOT, "corpus")
MANIFEST = os.path.join(CORPUS, "MANIFEST.tsv")

KINDS = ["receipt", "form", "printed_page", "typewritten", "photo", "degraded_scan"]
COLUMNS = ["split", "file", "kind", "source_repo", "source_path", "commit", "licence", "width_x_height", "has_gt",
           "gt_source", "derived_from", "notes"]

SROIE_REPO = "zzzDavid/ICDAR-2019-SROIE"
SROIE_COMMIT = "27be4271b251c256f695acbade9a801bffe85994"
SROIE_LICENCE = ("CC-BY-4.0 (SROIE, per ICDAR RRC downloads page as cited in jsdnrs/ICDAR2019-SROIE NOTICE); "
                 "mirror repo LICENSE is MIT (code)")
SROIE_NOTE = "SROIE transcripts are UPPERCASE; Chinese text not transcribed"
IRS_LICENCE = "Public domain (US federal government work, 17 U.S.C. 105; IRS form)"
TESS_REPO = "tesseract-ocr/test"
TESS_COMMIT = "232ff181c66516116ec0e84c4963f70de15050fd"

# New real receipts: SROIE ids 25*i+5, skipping the 600 dpi A4 scans over 1 MB (a nearby id is taken instead).
SROIE_NEW = ["005", "030", "055", "080", "105", "130", "155", "180", "205", "230", "255", "280", "312", "330",
             "355", "380", "405", "441", "455", "480", "505", "545", "555", "580", "605"]
# Receipts used only as sources of derived documents (never in the corpus as themselves).
SROIE_FOR_PHOTO = ["017", "067", "117", "167", "267", "367", "417", "467", "567"]
SROIE_FOR_DEGRADE = ["042", "092", "142", "192", "242", "342", "392", "492", "592"]

# (stem, repo, path, commit, page index, kind)
PDF_PAGES = [
    ("irs_fw9_2024_p1", "conmecto/instead-assignment", "test-scripts/fw9.pdf", "8ce0906eed25eb76e378cd667b0e495cdf2a0965", 0, "form"),
    ("irs_fw9_2024_p2", "conmecto/instead-assignment", "test-scripts/fw9.pdf", "8ce0906eed25eb76e378cd667b0e495cdf2a0965", 1, "printed_page"),
    ("irs_fw9_2024_p3", "conmecto/instead-assignment", "test-scripts/fw9.pdf", "8ce0906eed25eb76e378cd667b0e495cdf2a0965", 2, "printed_page"),
    ("irs_fw9_2024_p4", "conmecto/instead-assignment", "test-scripts/fw9.pdf", "8ce0906eed25eb76e378cd667b0e495cdf2a0965", 3, "printed_page"),
    ("irs_fw9_2024_p5", "conmecto/instead-assignment", "test-scripts/fw9.pdf", "8ce0906eed25eb76e378cd667b0e495cdf2a0965", 4, "printed_page"),
    ("irs_fw9_2024_p6", "conmecto/instead-assignment", "test-scripts/fw9.pdf", "8ce0906eed25eb76e378cd667b0e495cdf2a0965", 5, "printed_page"),
    ("irs_fw4_2025_p1", "conmecto/instead-assignment", "test-scripts/fw4.pdf", "8ce0906eed25eb76e378cd667b0e495cdf2a0965", 0, "form"),
    ("irs_fw4_2025_p2", "conmecto/instead-assignment", "test-scripts/fw4.pdf", "8ce0906eed25eb76e378cd667b0e495cdf2a0965", 1, "printed_page"),
    ("irs_fw4_2025_p3", "conmecto/instead-assignment", "test-scripts/fw4.pdf", "8ce0906eed25eb76e378cd667b0e495cdf2a0965", 2, "form"),
    ("irs_fw4_2025_p4", "conmecto/instead-assignment", "test-scripts/fw4.pdf", "8ce0906eed25eb76e378cd667b0e495cdf2a0965", 3, "form"),
    ("irs_fw2_p1", "conmecto/instead-assignment", "test-scripts/fw2.pdf", "8ce0906eed25eb76e378cd667b0e495cdf2a0965", 0, "printed_page"),
    ("irs_fw2_p2", "conmecto/instead-assignment", "test-scripts/fw2.pdf", "8ce0906eed25eb76e378cd667b0e495cdf2a0965", 1, "form"),
    ("irs_fw2_p4", "conmecto/instead-assignment", "test-scripts/fw2.pdf", "8ce0906eed25eb76e378cd667b0e495cdf2a0965", 3, "form"),
    ("irs_fw2_p5", "conmecto/instead-assignment", "test-scripts/fw2.pdf", "8ce0906eed25eb76e378cd667b0e495cdf2a0965", 4, "printed_page"),
    ("irs_fw2_p7", "conmecto/instead-assignment", "test-scripts/fw2.pdf", "8ce0906eed25eb76e378cd667b0e495cdf2a0965", 6, "printed_page"),
    ("irs_fw2_p9", "conmecto/instead-assignment", "test-scripts/fw2.pdf", "8ce0906eed25eb76e378cd667b0e495cdf2a0965", 8, "printed_page"),
    ("irs_f1040_2024_p1", "conmecto/instead-assignment", "test-scripts/f1040.pdf", "8ce0906eed25eb76e378cd667b0e495cdf2a0965", 0, "form"),
    ("irs_f1040_2024_p2", "conmecto/instead-assignment", "test-scripts/f1040.pdf", "8ce0906eed25eb76e378cd667b0e495cdf2a0965", 1, "form"),
    ("irs_f1040sc_2017_p1", "RhombusRed/BigTaxReturn", "f1040sc.pdf", "b26f7580f356bab9bd78fa0cb8aa9c3ffe514076", 0, "form"),
    ("irs_f1040sc_2017_p2", "RhombusRed/BigTaxReturn", "f1040sc.pdf", "b26f7580f356bab9bd78fa0cb8aa9c3ffe514076", 1, "form"),
    ("irs_fw9_2018_p1", "kentros/pdfs", "fw9.pdf", "b7e7d16260687408ce0718e4d16e28eb0700f88b", 0, "form"),
    ("irs_fw9_2018_p2", "kentros/pdfs", "fw9.pdf", "b7e7d16260687408ce0718e4d16e28eb0700f88b", 1, "printed_page"),
    ("irs_fw9_2018_p3", "kentros/pdfs", "fw9.pdf", "b7e7d16260687408ce0718e4d16e28eb0700f88b", 2, "printed_page"),
    ("irs_fw9_2018_p4", "kentros/pdfs", "fw9.pdf", "b7e7d16260687408ce0718e4d16e28eb0700f88b", 3, "printed_page"),
    ("irs_fw9_2018_p5", "kentros/pdfs", "fw9.pdf", "b7e7d16260687408ce0718e4d16e28eb0700f88b", 4, "printed_page"),
]
# PDF pages used only as sources of derived documents: (stem of the derived doc, source, page, transform).
PDF_DERIVED = [
    ("lowq_irs_fw9_2018_p6", "kentros/pdfs", "fw9.pdf", "b7e7d16260687408ce0718e4d16e28eb0700f88b", 5, "degraded_scan"),
    ("lowq_irs_fw2_p11", "conmecto/instead-assignment", "test-scripts/fw2.pdf", "8ce0906eed25eb76e378cd667b0e495cdf2a0965", 10, "degraded_scan"),
    ("lowq_irs_fw2_p8", "conmecto/instead-assignment", "test-scripts/fw2.pdf", "8ce0906eed25eb76e378cd667b0e495cdf2a0965", 7, "degraded_scan"),
    ("photo_irs_fw2_p3", "conmecto/instead-assignment", "test-scripts/fw2.pdf", "8ce0906eed25eb76e378cd667b0e495cdf2a0965", 2, "photo"),
    ("photo_irs_fw2_p6", "conmecto/instead-assignment", "test-scripts/fw2.pdf", "8ce0906eed25eb76e378cd667b0e495cdf2a0965", 5, "photo"),
    ("photo_irs_fw2_p10", "conmecto/instead-assignment", "test-scripts/fw2.pdf", "8ce0906eed25eb76e378cd667b0e495cdf2a0965", 9, "photo"),
]
# Tesseract's UNLV/ISRI test pages with their ground truth: (stem, image path, gt path, note).
TESS_PAGES = [
    ("tess_8071_093", "testing/8071_093.3B.tif", "testing/8071_093.3B.txt", "UNLV/ISRI test page, 300 dpi bitonal"),
    ("tess_8087_054", "testing/8087_054.3B.tif", "testing/8087_054.3B.txt", "UNLV/ISRI test page, 300 dpi bitonal"),
]

# Kinds of the 30 original documents, by file name prefix, in the fixed vocabulary.
ORIGINAL_KINDS = {"sroie_": "receipt", "tess_": "printed_page", "ocrmypdf_linn": "printed_page",
                  "ocrmypdf_typewriter": "typewritten"}

DEGRADE_TRANSFORM = ("degrade_scan(seed): grey, up to 1 deg skew, scale to 60% (not under 500 px wide), blur r=0.7, "
                     "contrast 85%, noise sd=14, JPEG q=30")
PHOTO_TRANSFORM = ("photograph(seed): on a dark desk, perspective warp up to 6%, light falloff to 65%, blur r=1.0, "
                   "noise sd=6, JPEG q=70")


def split_rule(rows):
    """Within each kind, the first ceil(n/2) file names by SHA-256 hex digest are holdout, the rest tune."""
    by_kind = {}
    for row in rows:
        by_kind.setdefault(row["kind"], []).append(row)
    for members in by_kind.values():
        members.sort(key=lambda r: hashlib.sha256(r["file"].encode()).hexdigest())
        cut = math.ceil(len(members) / 2)
        for i, row in enumerate(members):
            row["split"] = "holdout" if i < cut else "tune"


def read_manifest():
    with open(MANIFEST, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    for row in rows:
        if "split" not in row or row.get("split") in (None, "", "dev"):
            row.pop("set", None)
            kind = next(k for p, k in ORIGINAL_KINDS.items() if row["file"].startswith(p))
            old = row["kind"]
            if old != kind:
                row["notes"] = f"{row['notes']}; was kind {old}".strip("; ")
            row["kind"] = kind
            row.setdefault("derived_from", "")
    return rows


def write_manifest(rows):
    order = {k: i for i, k in enumerate(KINDS)}
    rows.sort(key=lambda r: (order[r["kind"]], r["file"]))
    with open(MANIFEST, "w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS, delimiter="\t", lineterminator="\n")
        w.writeheader()
        for row in rows:
            w.writerow({c: row.get(c, "") for c in COLUMNS})


def src(sources, repo, path):
    return os.path.join(sources, repo.replace("/", "+"), path)


def rng(seed_text):
    import numpy as np

    return np.random.default_rng(int(hashlib.sha256(seed_text.encode()).hexdigest()[:16], 16))


def degrade_scan(img, seed_text):
    """A low-quality office scan: grey, slightly skewed, low resolution, soft, noisy, heavy JPEG."""
    import numpy as np
    from PIL import Image, ImageFilter

    r = rng(seed_text)
    g = img.convert("L")
    g = g.rotate(float(r.uniform(-1.0, 1.0)), resample=Image.BICUBIC, expand=True, fillcolor=255)
    scale = max(0.6, min(1.0, 500 / g.width))
    g = g.resize((max(1, int(g.width * scale)), max(1, int(g.height * scale))), Image.BILINEAR)
    g = g.filter(ImageFilter.GaussianBlur(0.7))
    a = np.asarray(g, dtype=np.float32)
    a = a * 0.85 + 20 + r.normal(0, 14, a.shape)
    out = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))
    buf = io.BytesIO()
    out.save(buf, "JPEG", quality=30)
    return buf.getvalue(), out.size


def photograph(img, seed_text):
    """A phone photo of a page on a desk: perspective, uneven light, slight blur and sensor noise."""
    import numpy as np
    from PIL import Image, ImageFilter

    r = rng(seed_text)
    page = img.convert("RGB")
    w, h = page.size
    margin = int(0.08 * max(w, h))
    cw, ch = w + 2 * margin, h + 2 * margin
    desk = Image.new("RGB", (cw, ch), tuple(int(v) for v in r.integers(40, 90, 3)))
    desk.paste(page, (margin, margin))
    j = 0.06
    # Source corners pushed out by up to 6% of the canvas each: the page lands as an irregular quad.
    quad = []
    for (x, y) in [(0, 0), (0, ch), (cw, ch), (cw, 0)]:
        dx = float(r.uniform(0, j)) * cw * (-1 if x == 0 else 1)
        dy = float(r.uniform(0, j)) * ch * (-1 if y == 0 else 1)
        quad += [x + dx, y + dy]
    warped = desk.transform((cw, ch), Image.QUAD, data=quad, resample=Image.BICUBIC,
                           fillcolor=desk.getpixel((0, 0)))
    a = np.asarray(warped, dtype=np.float32)
    yy, xx = np.mgrid[0:ch, 0:cw]
    cx, cy = float(r.uniform(0.2, 0.8)) * cw, float(r.uniform(0.2, 0.8)) * ch
    d = np.sqrt(((xx - cx) / cw) ** 2 + ((yy - cy) / ch) ** 2)
    light = 1.0 - 0.35 * np.clip(d / 0.8, 0, 1)
    a = a * light[..., None] + r.normal(0, 6, a.shape)
    out = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(1.0))
    scale = min(1.0, 2200 / max(out.size))
    if scale < 1.0:
        out = out.resize((int(out.width * scale), int(out.height * scale)), Image.BILINEAR)
    buf = io.BytesIO()
    out.save(buf, "JPEG", quality=70)
    return buf.getvalue(), out.size


def render_pdf_page(path, index):
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(path)
    page = doc[index]
    text = page.get_textpage().get_text_range()
    img = page.render(scale=200 / 72, grayscale=True).to_pil().convert("L")
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    return img, "\n".join(l for l in lines if l.strip()) + "\n"


def sroie_gt(sources, sid):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from sroie_lines import lines_from_boxes

    with open(src(sources, SROIE_REPO, f"data/box/{sid}.csv"), encoding="utf-8", errors="replace", newline="") as f:
        return "\n".join(lines_from_boxes(list(csv.reader(f)))) + "\n"


def write_doc(stem, ext, data, gt):
    name = f"{stem}.{ext}"
    with open(os.path.join(CORPUS, name), "wb") as f:
        f.write(data)
    with open(os.path.join(CORPUS, f"{stem}.gt.txt"), "w", encoding="utf-8") as f:
        f.write(gt)
    return name


def png_bytes(img):
    buf = io.BytesIO()
    img.save(buf, "PNG", optimize=True)
    return buf.getvalue()


def build(sources, rows):
    from PIL import Image

    have = {r["file"] for r in rows}
    new = []

    def add(**row):
        if row["file"] not in have:
            new.append(row)

    for sid in SROIE_NEW:
        sid = sid.rstrip("x")
        path = src(sources, SROIE_REPO, f"data/img/{sid}.jpg")
        name = write_doc(f"sroie_{sid}", "jpg", open(path, "rb").read(), sroie_gt(sources, sid))
        w, h = Image.open(path).size
        add(file=name, kind="receipt", source_repo=SROIE_REPO, source_path=f"data/img/{sid}.jpg",
            commit=SROIE_COMMIT, licence=SROIE_LICENCE, width_x_height=f"{w}x{h}", has_gt="yes",
            gt_source=f"data/box/{sid}.csv (line boxes+text, re-ordered into lines)", derived_from="",
            notes=SROIE_NOTE)
    for stem, repo, path, commit, index, kind in PDF_PAGES:
        img, gt = render_pdf_page(src(sources, repo, path), index)
        name = write_doc(stem, "png", png_bytes(img), gt)
        add(file=name, kind=kind, source_repo=repo, source_path=f"{path} page {index + 1}", commit=commit,
            licence=IRS_LICENCE, width_x_height=f"{img.width}x{img.height}", has_gt="yes",
            gt_source="text layer of the born-digital PDF (pypdfium2), blank lines dropped", derived_from="",
            notes="rendered at 200 dpi grayscale from the PDF; blank form (no filled-in values)")
    for stem, img_path, gt_path, note in TESS_PAGES:
        data = open(src(sources, TESS_REPO, img_path), "rb").read()
        gt = open(src(sources, TESS_REPO, gt_path), encoding="utf-8", errors="replace").read()
        name = write_doc(stem, "tif", data, gt)
        w, h = Image.open(io.BytesIO(data)).size
        add(file=name, kind="printed_page", source_repo=TESS_REPO, source_path=img_path, commit=TESS_COMMIT,
            licence="Apache-2.0 (repo LICENSE)", width_x_height=f"{w}x{h}", has_gt="yes", gt_source=gt_path,
            derived_from="", notes=note)
    for sid_list, kind, fn, transform, prefix in [
        (SROIE_FOR_PHOTO, "photo", photograph, PHOTO_TRANSFORM, "photo_sroie_"),
        (SROIE_FOR_DEGRADE, "degraded_scan", degrade_scan, DEGRADE_TRANSFORM, "lowq_sroie_"),
    ]:
        for sid in sid_list:
            sid = sid.rstrip("x")
            path = src(sources, SROIE_REPO, f"data/img/{sid}.jpg")
            data, (w, h) = fn(Image.open(path), prefix + sid)
            name = write_doc(prefix + sid, "jpg", data, sroie_gt(sources, sid))
            add(file=name, kind=kind, source_repo=SROIE_REPO, source_path=f"data/img/{sid}.jpg",
                commit=SROIE_COMMIT, licence=SROIE_LICENCE, width_x_height=f"{w}x{h}", has_gt="yes",
                gt_source=f"data/box/{sid}.csv (line boxes+text, re-ordered into lines)",
                derived_from=f"DERIVED from data/img/{sid}.jpg by {transform}",
                notes=SROIE_NOTE + "; source receipt not otherwise in the corpus")
    for stem, repo, path, commit, index, kind in PDF_DERIVED:
        img, gt = render_pdf_page(src(sources, repo, path), index)
        fn, transform = (photograph, PHOTO_TRANSFORM) if kind == "photo" else (degrade_scan, DEGRADE_TRANSFORM)
        data, (w, h) = fn(img, stem)
        name = write_doc(stem, "jpg", data, gt)
        add(file=name, kind=kind, source_repo=repo, source_path=f"{path} page {index + 1}", commit=commit,
            licence=IRS_LICENCE, width_x_height=f"{w}x{h}", has_gt="yes",
            gt_source="text layer of the born-digital PDF (pypdfium2), blank lines dropped",
            derived_from=f"DERIVED from {path} page {index + 1} rendered at 200 dpi, by {transform}",
            notes="source page not otherwise in the corpus")
    return rows + new


def main(argv):
    rows = read_manifest()
    if argv and argv[0] != "--splits-only":
        rows = build(argv[0], rows)
    for row in rows:
        if row["kind"] not in KINDS:
            sys.exit(f"unknown kind {row['kind']!r} for {row['file']}")
    split_rule(rows)
    write_manifest(rows)
    counts = {}
    for row in rows:
        counts[(row["kind"], row["split"])] = counts.get((row["kind"], row["split"]), 0) + 1
    for kind in KINDS:
        print(f"{kind:14} holdout {counts.get((kind, 'holdout'), 0):3}  tune {counts.get((kind, 'tune'), 0):3}")
    print(f"total {len(rows)}")


if __name__ == "__main__":
    main(sys.argv[1:])
