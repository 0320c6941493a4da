//! Image dimensions from header bytes, for attachment metadata. Pure; never panics.

/// `(width, height)` of a PNG, GIF, JPEG or WebP image, read from its header.
pub fn image_dimensions(b: &[u8]) -> Option<(u32, u32)> {
    let be32 = |i: usize| {
        b.get(i..i + 4)
            .map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    };
    let le16 = |i: usize| {
        b.get(i..i + 2)
            .map(|s| u32::from(u16::from_le_bytes([s[0], s[1]])))
    };
    let be16 = |i: usize| {
        b.get(i..i + 2)
            .map(|s| u32::from(u16::from_be_bytes([s[0], s[1]])))
    };
    let le24 = |i: usize| {
        b.get(i..i + 3)
            .map(|s| u32::from(s[0]) | u32::from(s[1]) << 8 | u32::from(s[2]) << 16)
    };
    if b.starts_with(b"\x89PNG\r\n\x1a\n") && b.get(12..16) == Some(b"IHDR") {
        return Some((be32(16)?, be32(20)?));
    }
    if b.starts_with(b"GIF87a") || b.starts_with(b"GIF89a") {
        return Some((le16(6)?, le16(8)?));
    }
    if b.starts_with(b"RIFF") && b.get(8..12) == Some(b"WEBP") {
        return match b.get(12..16)? {
            b"VP8X" => Some((le24(24)? + 1, le24(27)? + 1)),
            b"VP8L" => {
                let bits = b.get(21..25)?;
                let v = u32::from_le_bytes([bits[0], bits[1], bits[2], bits[3]]);
                Some(((v & 0x3FFF) + 1, ((v >> 14) & 0x3FFF) + 1))
            }
            b"VP8 " => Some((le16(26)? & 0x3FFF, le16(28)? & 0x3FFF)),
            _ => None,
        };
    }
    if b.starts_with(&[0xFF, 0xD8]) {
        let mut i = 2;
        while i + 9 < b.len() {
            if b[i] != 0xFF {
                return None;
            }
            let marker = b[i + 1];
            if marker == 0xD8 || marker == 0x01 || (0xD0..=0xD7).contains(&marker) {
                i += 2;
                continue;
            }
            let len = be16(i + 2)? as usize;
            // SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC) carry the frame size.
            if (0xC0..=0xCF).contains(&marker) && !matches!(marker, 0xC4 | 0xC8 | 0xCC) {
                return Some((be16(i + 7)?, be16(i + 5)?));
            }
            i += 2 + len;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn png(w: u32, h: u32) -> Vec<u8> {
        let mut v = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
        v.extend(w.to_be_bytes());
        v.extend(h.to_be_bytes());
        v.extend([8, 6, 0, 0, 0]);
        v
    }

    #[test]
    fn reads_each_format() {
        assert_eq!(image_dimensions(&png(640, 480)), Some((640, 480)));
        let mut gif = b"GIF89a".to_vec();
        gif.extend(320u16.to_le_bytes());
        gif.extend(200u16.to_le_bytes());
        assert_eq!(image_dimensions(&gif), Some((320, 200)));
        // SOI, APP0 (len 16), SOF0 with height 300, width 400.
        let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE0, 0, 16];
        jpeg.extend([0u8; 14]);
        jpeg.extend([0xFF, 0xC0, 0, 17, 8, 0x01, 0x2C, 0x01, 0x90, 3]);
        jpeg.extend([0u8; 12]);
        assert_eq!(image_dimensions(&jpeg), Some((400, 300)));
        let mut webp = b"RIFF\0\0\0\0WEBPVP8X".to_vec();
        webp.extend([10, 0, 0, 0, 0, 0, 0, 0]);
        webp.extend([0xFF, 0x03, 0x00]); // width-1 = 1023
        webp.extend([0x57, 0x02, 0x00]); // height-1 = 599
        assert_eq!(image_dimensions(&webp), Some((1024, 600)));
        assert_eq!(image_dimensions(b"not an image"), None);
    }

    proptest! {
        #[test]
        fn never_panics_on_arbitrary_bytes(prefix in prop::sample::select(vec![&b"\x89PNG\r\n\x1a\n"[..], b"GIF89a", b"RIFF\0\0\0\0WEBPVP8X", b"RIFF\0\0\0\0WEBPVP8L", &[0xFF, 0xD8, 0xFF][..], b""]),
                                           tail in prop::collection::vec(any::<u8>(), 0..64)) {
            let bytes = [prefix, &tail[..]].concat();
            let _ = image_dimensions(&bytes);
        }
    }
}
