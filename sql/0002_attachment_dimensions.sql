-- Pixel dimensions of image attachments, read by the shim from the image header (-1: unknown).
ALTER TABLE llm_calls ADD COLUMN attachment_widths Array(Int32) AFTER attachment_sha256;

ALTER TABLE llm_calls ADD COLUMN attachment_heights Array(Int32) AFTER attachment_widths;
