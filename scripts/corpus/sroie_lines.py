"""Rebuilds an SROIE receipt's ground truth as text lines from its box file (x1,y1,...,x4,y4,text per row).

Boxes whose vertical centres fall inside an earlier box's vertical span join that line; a line's boxes are read
left to right, and lines top to bottom. The text is the dataset's own transcription; nothing is recognised here.
"""
import csv
import sys


def lines_from_boxes(rows):
    boxes = []
    for row in rows:
        if len(row) < 9:
            continue
        coords = [int(v) for v in row[:8]]
        text = ",".join(row[8:]).strip()
        if not text:
            continue
        ys = coords[1::2]
        xs = coords[0::2]
        boxes.append((min(ys), max(ys), min(xs), text))
    boxes.sort(key=lambda b: (b[0] + b[1]) / 2)
    lines = []
    for top, bottom, left, text in boxes:
        centre = (top + bottom) / 2
        if lines and lines[-1]["top"] <= centre <= lines[-1]["bottom"]:
            lines[-1]["items"].append((left, text))
        else:
            lines.append({"top": top, "bottom": bottom, "items": [(left, text)]})
    return [" ".join(t for _, t in sorted(line["items"])) for line in lines]


def main(path):
    with open(path, encoding="utf-8", errors="replace", newline="") as f:
        rows = list(csv.reader(f))
    sys.stdout.write("\n".join(lines_from_boxes(rows)) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
