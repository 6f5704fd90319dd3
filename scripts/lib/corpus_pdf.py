"""Writes the corpus PDFs, one page per input file, deterministically (no dates, no ids), standard library only.

- GT.txt inputs: a page carrying real text (Helvetica, WinAnsi), the ground truth typeset line by line;
- PAGE.pgm inputs (binary P5 grey): an image-only page, the pixels lossless (Flate) at 300 dpi, so rendering the
  page at 300 dpi gives back the same pixel grid.

Used by scripts/corpus-pdfs.

usage: corpus_pdf.py OUT.pdf INPUT.(txt|pgm) [...]
"""
import sys
import zlib


def read_pgm(path):
    with open(path, "rb") as f:
        data = f.read()
    fields, pos = [], 0
    while len(fields) < 4:
        while data[pos:pos + 1].isspace():
            pos += 1
        if data[pos:pos + 1] == b"#":
            pos = data.index(b"\n", pos)
            continue
        end = pos
        while not data[end:end + 1].isspace():
            end += 1
        fields.append(data[pos:end])
        pos = end
    assert fields[0] == b"P5" and fields[3] == b"255", path
    w, h = int(fields[1]), int(fields[2])
    return w, h, data[pos + 1:pos + 1 + w * h]


def esc(line):
    return line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def page_stream(lines):
    size, lead = 11, 14
    out = ["BT", f"/F1 {size} Tf", f"{lead} TL", "56 760 Td"]
    for line in lines:
        text = line.encode("cp1252", "replace").decode("latin-1")
        out.append(f"({esc(text)}) Tj T*")
    out.append("ET")
    return "\n".join(out).encode("latin-1")


def main():
    out_path, gts = sys.argv[1], sys.argv[2:]
    objs = []  # 1-based object bodies
    objs.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objs.append(None)  # pages, filled below
    objs.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    kids = []
    for gt in gts:
        if gt.endswith(".pgm"):
            w, h, pixels = read_pgm(gt)
            packed = zlib.compress(pixels, 9)
            objs.append(
                b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray "
                b"/BitsPerComponent 8 /Filter /FlateDecode /Length %d >>\nstream\n" % (w, h, len(packed))
                + packed + b"\nendstream"
            )
            image = len(objs)
            pw, ph = w * 72 / 300, h * 72 / 300
            stream = b"q %.4f 0 0 %.4f 0 0 cm /Im0 Do Q" % (pw, ph)
            objs.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
            content = len(objs)
            objs.append(
                b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %.4f %.4f] /Resources << /XObject << /Im0 %d 0 R >> >> "
                b"/Contents %d 0 R >>" % (pw, ph, image, content)
            )
            kids.append(len(objs))
            continue
        with open(gt, encoding="utf-8") as f:
            lines = f.read().splitlines()
        stream = page_stream(lines)
        objs.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
        content = len(objs)
        objs.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> "
            b"/Contents %d 0 R >>" % content
        )
        kids.append(len(objs))
    objs[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
        b" ".join(b"%d 0 R" % k for k in kids),
        len(kids),
    )
    data = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, body in enumerate(objs, start=1):
        offsets.append(len(data))
        data += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(data)
    data += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    for off in offsets:
        data += b"%010d 00000 n \n" % off
    data += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    with open(out_path, "wb") as f:
        f.write(data)


if __name__ == "__main__":
    main()
