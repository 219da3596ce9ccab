//! Large responses stream: a 10,000-object page is not built as one body in memory.
//!
//! The stored objects are shared `Bytes`, so the response holds references to them
//! plus a few bytes of JSON around; the body hands them out in frames of at most
//! 64 KiB. A counting allocator checks both: what answering the request allocates,
//! and what reading the body allocates at most at any one time, are each a small
//! fraction of the body's size.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use http_body_util::BodyExt;
use tower::ServiceExt;
use tower_taxii::{ApiRoot, CollectionInfo, MemoryBackend, TaxiiService};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(live, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Resets the peak to what is live now, and returns that.
fn reset_peak() -> usize {
    let live = LIVE.load(Ordering::Relaxed);
    PEAK.store(live, Ordering::Relaxed);
    live
}

#[tokio::test(flavor = "current_thread")]
async fn a_ten_thousand_object_page_streams_from_the_stored_bytes() {
    let backend = Arc::new(MemoryBackend::new());
    backend.add_collection("api/v21", CollectionInfo::new("big", "Big"));
    let padding = "x".repeat(900);
    let objects = (0..10_000u32).map(|i| {
        bytes::Bytes::from(format!(
            r#"{{"type":"indicator","spec_version":"2.1","id":"indicator--{i:08x}-0000-4000-8000-000000000000","created":"2024-01-01T00:00:00.000Z","modified":"2024-01-01T00:00:00.000Z","description":"{padding}"}}"#
        ))
    });
    let report = backend.insert_objects("api/v21", "big", objects).unwrap();
    assert_eq!(report.added, 10_000);
    let service = TaxiiService::builder(backend).api_root("api/v21", ApiRoot::new("Root")).build();

    let request = http::Request::get("/api/v21/collections/big/objects/?limit=10000")
        .header("accept", "application/taxii+json;version=2.1")
        .body(String::new())
        .unwrap();
    let before = reset_peak();
    let response = service.oneshot(request).await.unwrap();
    let answering = PEAK.load(Ordering::Relaxed) - before;
    assert_eq!(response.status(), 200);
    // The exact length, which servers send as Content-Length.
    let length = http_body::Body::size_hint(response.body()).exact().unwrap() as usize;
    assert!(length > 9_000_000, "the page holds every object: {length} bytes");

    let mut body = response.into_body();
    let before = reset_peak();
    let (mut frames, mut read, mut largest) = (0, 0, 0);
    while let Some(frame) = body.frame().await {
        let data = frame.unwrap().into_data().unwrap();
        frames += 1;
        read += data.len();
        largest = largest.max(data.len());
    }
    let reading = PEAK.load(Ordering::Relaxed).saturating_sub(before);
    assert_eq!(read, length);
    println!(
        "{length} bytes in {frames} frames (largest {largest}); answering allocated at most {answering} bytes at once, reading {reading}"
    );
    assert!(largest <= 64 * 1024, "frames are at most 64 KiB: {largest}");
    // What answering allocates is references to the stored objects (a few hundred
    // bytes per object, whatever its size), not a copy of the ~1 KB objects.
    assert!(
        answering < 10_000 * 256 && answering < length / 4,
        "answering built no copy of the body: {answering} of {length} bytes"
    );
    assert!(reading < 256 * 1024, "reading holds one frame at a time: {reading} bytes");
}
