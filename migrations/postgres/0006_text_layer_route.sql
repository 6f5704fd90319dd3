-- Issue 10: PDF pages with a usable text layer take a third route, `text_layer` (no OCR), beside fast and
-- standard. A document's `path` is the costliest route any of its pages took (standard > fast > text_layer), and
-- `pages` is the number of pages processed, so the dashboards can tell a cheap text-layer document from an
-- OCRed one. Error kinds are free text here (no constraint to widen for the new ones).
ALTER TABLE cpu_metrics DROP CONSTRAINT IF EXISTS cpu_metrics_path_check;
ALTER TABLE cpu_metrics ADD CONSTRAINT cpu_metrics_path_check CHECK (path IN ('text_layer', 'fast', 'standard'));
