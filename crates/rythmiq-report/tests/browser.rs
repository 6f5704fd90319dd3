//! The HTML report in a real browser: headless Chromium (Debian's `chromium`, installed by `scripts/setup`) lays
//! the page out at several window widths; the page must not be wider than the window (document.scrollWidth <=
//! clientWidth), and a screenshot of each is taken. Without Chromium the test says so and passes, unless
//! `RYTHMIQ_REQUIRE_CHROMIUM=1` (set by `scripts/test`), where a missing browser fails it.

mod common;

use std::path::Path;
use std::process::Command;

use common::{bench, compare, load, usage};
use rythmiq_report::{render_html, Constraints, Report};

/// Appended to a copy of the page (the report itself has no JavaScript): writes the layout widths into the DOM
/// that `--dump-dom` prints.
const MEASURE: &str = "<script>(function(){var d=document.documentElement;var o=document.createElement('p');\
o.id='measure';o.textContent='scrollWidth='+d.scrollWidth+' clientWidth='+d.clientWidth;\
document.body.appendChild(o);})();</script>";

fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser"]
        .into_iter()
        .find(|b| Command::new(b).arg("--version").output().is_ok_and(|o| o.status.success()))
}

fn run(browser: &str, width: u32, extra: &[&str], page: &Path) -> std::process::Output {
    Command::new(browser)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars"])
        .arg(format!("--window-size={width},900"))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium runs")
}

/// (scrollWidth, clientWidth) parsed from the dumped DOM.
fn widths(dom: &str) -> (u32, u32) {
    let at = dom.find("scrollWidth=").unwrap_or_else(|| panic!("no measurement in the DOM:\n{dom}"));
    let mut nums = dom[at..].split(|c: char| !c.is_ascii_digit()).filter(|s| !s.is_empty()).map(|s| s.parse().unwrap());
    (nums.next().unwrap(), nums.next().unwrap())
}

#[test]
fn the_page_renders_in_chromium_without_overflowing_its_width() {
    let Some(browser) = chromium() else {
        assert!(std::env::var("RYTHMIQ_REQUIRE_CHROMIUM").is_err(), "chromium is required but not installed");
        eprintln!("chromium not installed: browser check skipped (scripts/setup installs it)");
        return;
    };
    let dir = std::env::temp_dir().join(format!("rythmiq-report-browser-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let full = Report::build(Constraints::default(), bench(), Some(load()), Some(compare()), Some(usage())).unwrap();
    let bench_only = Report::build(Constraints::default(), bench(), None, None, None).unwrap();
    for (name, report) in [("full", full), ("bench_only", bench_only)] {
        let html = render_html(&report);
        let page = dir.join(format!("{name}.html"));
        std::fs::write(&page, html.replace("</body>", &format!("{MEASURE}</body>"))).unwrap();
        for width in [1280, 800] {
            let out = run(browser, width, &["--dump-dom"], &page);
            let dom = String::from_utf8_lossy(&out.stdout);
            let (scroll, client) = widths(&dom);
            assert!(client > 0 && client <= width, "{name} at {width}: client width {client}");
            assert!(scroll <= client, "{name} at {width} px: the page is {scroll} px wide in a {client} px window");
            let shot = dir.join(format!("{name}-{width}.png"));
            let out = run(browser, width, &[&format!("--screenshot={}", shot.display())], &page);
            let png = std::fs::read(&shot)
                .unwrap_or_else(|e| panic!("no screenshot ({e}): {}", String::from_utf8_lossy(&out.stderr)));
            assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000, "{name} at {width}: {} bytes", png.len());
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
