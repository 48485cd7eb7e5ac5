//! The DRM client figures in `/proc/PID/fdinfo/FD`, as the kernel's "DRM client usage
//! stats" specify them (Documentation/gpu/drm-usage-stats.rst): one `key: value` a
//! line, keys `drm-`-prefixed, sizes in bytes unless followed by ` KiB` or ` MiB`.
//!
//! - `drm-driver:`, `drm-pdev:`, `drm-client-id:` name the client; a client is one
//!   open DRM file, shared by every descriptor `dup`ed or inherited from it.
//! - Per memory region: `drm-total-<region>` (every buffer, instantiated or not),
//!   `drm-resident-<region>` (those with backing store), `drm-memory-<region>` (the
//!   older name of `drm-resident-`, which amdgpu still writes beside it),
//!   `drm-shared-<region>` (buffers shared with another client). `drm-total-cycles-*`
//!   is xe's engine clock, not memory.

use std::collections::BTreeMap;

use crate::sample::gpu::DrmClient;

/// One region's figures, in bytes.
#[derive(Default)]
struct Region {
    total: Option<u64>,
    resident: Option<u64>,
    /// `drm-memory-`, the older name of `drm-resident-`.
    memory: Option<u64>,
    shared: Option<u64>,
}

/// The client a DRM descriptor's fdinfo describes, or `None` if it names no DRM
/// driver (not a DRM descriptor, or a kernel before DRM fdinfo). A size that does
/// not parse makes the memory figures unknown, not 0.
pub fn parse(text: &str) -> Option<DrmClient> {
    let mut client = DrmClient::default();
    let mut driver = None;
    let mut regions: BTreeMap<&str, Region> = BTreeMap::new();
    let mut bad_size = false;
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let (key, value) = (key.trim(), value.trim());
        let Some(key) = key.strip_prefix("drm-") else {
            continue;
        };
        match key {
            "driver" => driver = Some(value.to_string()),
            "pdev" => client.pdev = Some(value.to_string()),
            "client-id" => client.client_id = value.parse().ok(),
            _ => {
                let Some((kind, region)) = key.split_once('-') else {
                    continue;
                };
                if !matches!(kind, "total" | "resident" | "memory" | "shared")
                    || (kind == "total" && region.starts_with("cycles-"))
                {
                    continue;
                }
                let Some(bytes) = size(value) else {
                    bad_size = true;
                    continue;
                };
                let r = regions.entry(region).or_default();
                let slot = match kind {
                    "total" => &mut r.total,
                    "resident" => &mut r.resident,
                    "memory" => &mut r.memory,
                    _ => &mut r.shared,
                };
                *slot = Some(bytes);
            }
        }
    }
    client.driver = driver?;
    if !bad_size && !regions.is_empty() {
        let mut private = 0u64;
        let mut shared = None::<u64>;
        for r in regions.values() {
            let held = r.resident.or(r.memory).or(r.total).unwrap_or(0);
            let s = r.shared.unwrap_or(0);
            private = private.saturating_add(held.saturating_sub(s));
            if let Some(s) = r.shared {
                shared = Some(shared.unwrap_or(0).saturating_add(s));
            }
        }
        client.private_kb = Some(private / 1024);
        client.shared_kb = shared.map(|s| s / 1024);
    }
    Some(client)
}

/// A size as the specification writes it, in bytes: `<uint>` with an optional unit
/// (`KiB`, `MiB`; `GiB` too, in case a driver writes it).
fn size(value: &str) -> Option<u64> {
    let mut parts = value.split_whitespace();
    let n: u64 = parts.next()?.parse().ok()?;
    let scale: u64 = match parts.next() {
        None => 1,
        Some("KiB") => 1 << 10,
        Some("MiB") => 1 << 20,
        Some("GiB") => 1 << 30,
        Some(_) => return None,
    };
    if parts.next().is_some() {
        return None;
    }
    n.checked_mul(scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// amdgpu as `amdgpu_show_fdinfo` (drivers/gpu/drm/amd/amdgpu/amdgpu_fdinfo.c,
    /// Linux 6.2-6.10) writes it: `drm-memory-<region>` only, no shared figure, and a
    /// space before the tab after `drm-memory-gtt:` and `drm-memory-cpu:`. The keys and
    /// their layout are the driver's; the sizes here (and in the samples below, but
    /// xe's) are made up.
    const AMDGPU: &str = "pos:\t0
flags:\t02100002
mnt_id:\t24
ino:\t1045
pasid:\t32772
drm-driver:\tamdgpu
drm-pdev:\t0000:03:00.0
drm-client-id:\t1213
drm-memory-vram:\t1234048 KiB
drm-memory-gtt: \t4512 KiB
drm-memory-cpu: \t0 KiB
amd-memory-visible-vram:\t262144 KiB
amd-evicted-vram:\t0 KiB
amd-evicted-visible-vram:\t0 KiB
amd-requested-vram:\t1234048 KiB
amd-requested-visible-vram:\t0 KiB
amd-requested-gtt:\t4512 KiB
drm-engine-gfx:\t1203846755 ns
drm-engine-compute:\t98312004 ns
";

    /// amdgpu since Linux 6.11, which writes the common `drm-total-`/`-shared-`/
    /// `-resident-` keys through `drm_print_memory_stats` (drivers/gpu/drm/drm_file.c:
    /// a size is written bare in bytes, or with ` KiB`/` MiB` where it divides evenly)
    /// and keeps its older `drm-memory-` lines beside them.
    const AMDGPU_6_11: &str = "pos:\t0
flags:\t02100002
mnt_id:\t24
ino:\t1045
drm-driver:\tamdgpu
drm-client-id:\t1213
drm-pdev:\t0000:03:00.0
pasid:\t32772
drm-total-cpu:\t0
drm-shared-cpu:\t0
drm-active-cpu:\t0
drm-resident-cpu:\t0
drm-purgeable-cpu:\t0
drm-total-gtt:\t4512 KiB
drm-shared-gtt:\t2 MiB
drm-active-gtt:\t0
drm-resident-gtt:\t4512 KiB
drm-purgeable-gtt:\t0
drm-total-vram:\t1234048 KiB
drm-shared-vram:\t0
drm-active-vram:\t0
drm-resident-vram:\t1234048 KiB
drm-purgeable-vram:\t0
drm-memory-vram:\t1234048 KiB
drm-memory-gtt: \t4512 KiB
drm-memory-cpu: \t0 KiB
amd-evicted-vram:\t0 KiB
amd-requested-vram:\t1234048 KiB
amd-requested-gtt:\t4512 KiB
drm-engine-gfx:\t1203846755 ns
";

    /// i915 as `i915_drm_client_fdinfo` (drivers/gpu/drm/i915/i915_drm_client.c)
    /// writes it on a discrete card: its regions (`system0`, `local0`,
    /// `stolen-local0`) through `drm_print_memory_stats`, then the engines
    /// (Documentation/gpu/i915.rst, "i915 DRM client usage stats implementation").
    const I915: &str = "pos:\t0
flags:\t02100002
mnt_id:\t27
ino:\t1122
drm-driver:\ti915
drm-client-id:\t7
drm-pdev:\t0000:03:00.0
drm-total-system0:\t8 MiB
drm-shared-system0:\t0
drm-active-system0:\t0
drm-resident-system0:\t8 MiB
drm-purgeable-system0:\t0
drm-total-local0:\t512 MiB
drm-shared-local0:\t64 MiB
drm-active-local0:\t0
drm-resident-local0:\t256 MiB
drm-purgeable-local0:\t0
drm-total-stolen-local0:\t0
drm-shared-stolen-local0:\t0
drm-active-stolen-local0:\t0
drm-resident-stolen-local0:\t0
drm-purgeable-stolen-local0:\t0
drm-engine-render:\t25662044495 ns
drm-engine-copy:\t0 ns
drm-engine-video:\t0 ns
drm-engine-capacity-video:\t2
drm-engine-video-enhance:\t0 ns
";

    /// xe, the example of Documentation/gpu/xe/xe-drm-usage-stats.rst
    /// (docs.kernel.org/gpu/xe/xe-drm-usage-stats.html) as it stands: note
    /// `drm-total-cycles-*`, which is a clock, not a region.
    const XE: &str = "pos:    0
flags:  0100002
mnt_id: 26
ino:    685
drm-driver:     xe
drm-client-id:  3
drm-pdev:       0000:03:00.0
drm-total-system:       0
drm-shared-system:      0
drm-active-system:      0
drm-resident-system:    0
drm-purgeable-system:   0
drm-total-gtt:  192 KiB
drm-shared-gtt: 0
drm-active-gtt: 0
drm-resident-gtt:       192 KiB
drm-total-vram0:        23992 KiB
drm-shared-vram0:       16 MiB
drm-active-vram0:       0
drm-resident-vram0:     23992 KiB
drm-total-stolen:       0
drm-shared-stolen:      0
drm-active-stolen:      0
drm-resident-stolen:    0
drm-cycles-rcs: 28257900
drm-total-cycles-rcs:   7655183225
drm-cycles-bcs: 0
drm-total-cycles-bcs:   7655183225
drm-cycles-vcs: 0
drm-total-cycles-vcs:   7655183225
drm-engine-capacity-vcs:        2
drm-cycles-vecs:        0
drm-total-cycles-vecs:  7655183225
drm-engine-capacity-vecs:       2
drm-cycles-ccs: 0
drm-total-cycles-ccs:   7655183225
drm-engine-capacity-ccs:        4
";

    #[test]
    fn amdgpu_memory_lines_count_as_resident_and_nothing_as_shared() {
        let c = parse(AMDGPU).expect("a DRM client");
        assert_eq!(c.driver, "amdgpu");
        assert_eq!(c.pdev.as_deref(), Some("0000:03:00.0"));
        assert_eq!(c.client_id, Some(1213));
        assert_eq!(c.private_kb, Some(1_234_048 + 4_512));
        assert_eq!(c.shared_kb, None, "amdgpu wrote no drm-shared- line");
    }

    #[test]
    fn amdgpu_since_6_11_is_not_counted_twice_for_its_two_names() {
        let c = parse(AMDGPU_6_11).expect("a DRM client");
        // vram resident, gtt resident less its 2 MiB shared, cpu 0: once each, not
        // again for drm-memory-*.
        assert_eq!(c.private_kb, Some(1_234_048 + (4_512 - 2_048)));
        assert_eq!(c.shared_kb, Some(2_048));
    }

    #[test]
    fn i915_counts_resident_less_shared_in_every_region() {
        let c = parse(I915).expect("a DRM client");
        assert_eq!((c.driver.as_str(), c.client_id), ("i915", Some(7)));
        // system0 8 MiB, local0 256 MiB resident less 64 MiB shared; the 512 MiB
        // total of local0 has no backing store beyond its resident 256.
        assert_eq!(c.private_kb, Some((8 + 256 - 64) * 1024));
        assert_eq!(c.shared_kb, Some(64 * 1024));
    }

    #[test]
    fn xe_leaves_its_cycle_counters_out_and_takes_shared_off() {
        let c = parse(XE).expect("a DRM client");
        assert_eq!(c.driver, "xe");
        assert_eq!(c.client_id, Some(3));
        // gtt 192 KiB, vram0 23992 KiB less 16 MiB shared: 7,800 KiB, not billions
        // from drm-total-cycles-*.
        assert_eq!(c.private_kb, Some(192 + 23_992 - 16 * 1024));
        assert_eq!(c.shared_kb, Some(16 * 1024));
    }

    #[test]
    fn a_client_without_memory_lines_has_unknown_memory() {
        let c = parse("drm-driver:\tpanfrost\ndrm-client-id:\t4\ndrm-engine-fragment:\t10 ns\n")
            .expect("a DRM client");
        assert_eq!((c.private_kb, c.shared_kb), (None, None));
    }

    #[test]
    fn an_unreadable_size_is_unknown_not_zero() {
        let c = parse("drm-driver:\txe\ndrm-client-id:\t3\ndrm-resident-vram0:\t12 TiB\n")
            .expect("a DRM client");
        assert_eq!(c.private_kb, None);
    }

    #[test]
    fn a_descriptor_that_is_not_drm_is_no_client() {
        assert_eq!(parse("pos:\t0\nflags:\t02\nmnt_id:\t26\nino:\t5\n"), None);
        assert_eq!(parse(""), None);
    }

    #[test]
    fn sizes_take_bytes_kib_and_mib() {
        assert_eq!(size("0"), Some(0));
        assert_eq!(size("4096"), Some(4096));
        assert_eq!(size("192 KiB"), Some(192 * 1024));
        assert_eq!(size("16 MiB"), Some(16 << 20));
        assert_eq!(size("16 kB"), None);
        assert_eq!(size("-1"), None);
        assert_eq!(size(&format!("{} MiB", u64::MAX)), None);
    }
}
