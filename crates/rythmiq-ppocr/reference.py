"""The reference run for rythmiq-ppocr's agreement check: RapidOCR (the same PP-OCRv6 small det+rec models, on
the onnxruntime Python package, one thread, no angle classifier) over a list of images; prints one JSON object
per image with its text (one detected box per line, in RapidOCR's order) and the process CPU seconds it took.

    python3 -m venv v && v/bin/pip install onnxruntime==1.32.0 rapidocr==3.10.0
    v/bin/python crates/rythmiq-ppocr/reference.py corpus/*.png corpus/*.jpg > reference.jsonl
"""
import json
import sys
import time

from rapidocr import RapidOCR

engine = RapidOCR(params={
    "Global.use_cls": False,
    "EngineConfig.onnxruntime.intra_op_num_threads": 1,
    "EngineConfig.onnxruntime.inter_op_num_threads": 1,
    "Global.log_level": "error",
})
for path in sys.argv[1:]:
    start = time.process_time()
    out = engine(path)
    cpu = time.process_time() - start
    txts = list(out.txts or [])
    print(json.dumps({"file": path, "cpu_s": round(cpu, 3), "lines": txts, "n_boxes": len(txts)}), flush=True)
