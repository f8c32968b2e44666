//! web-dynamic over HTTP, black box, with data seeded through the api-service on the same
//! database: every page (status, content type, markup, sorting, escaping), every asset (content
//! type, fingerprinted URL, caching, 304, Range, compression) and traversal attempts.

use std::collections::{BTreeMap, BTreeSet};

use hbnb_tests::db::Engine;
use hbnb_tests::web::{
    asset_links, seed, Site, World, EVIL_DESCRIPTION, EVIL_NAME, PAGES, STORAGE_PAGES,
};
use hbnb_tests::{client, raw_get_status, Service};

const HTML: &str = "text/html; charset=utf-8";

async fn get(url: &str) -> (u16, String, String) {
    let response = client().get(url).send().await.expect("request");
    let status = response.status().as_u16();
    let content_type = header(&response, "content-type");
    (status, content_type, response.text().await.expect("body"))
}

fn header(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().expect("ascii header").to_owned())
        .unwrap_or_default()
}

async fn seeded(engine: Engine) -> (Site, World) {
    let site = Site::start(engine).await;
    let world = seed(&site.api).await;
    (site, world)
}

/// The text between `start` and `end` markers (first occurrence).
fn between<'a>(html: &'a str, start: &str, end: &str) -> &'a str {
    let from = html
        .find(start)
        .unwrap_or_else(|| panic!("{start} not in {html}"));
    let rest = &html[from + start.len()..];
    &rest[..rest.find(end).unwrap_or(rest.len())]
}

fn positions(html: &str, needles: &[&str]) -> Vec<usize> {
    needles
        .iter()
        .map(|n| html.find(n).unwrap_or_else(|| panic!("{n} not in {html}")))
        .collect()
}

fn assert_sorted(html: &str, needles: &[&str]) {
    let found = positions(html, needles);
    let mut sorted = found.clone();
    sorted.sort_unstable();
    assert_eq!(found, sorted, "{needles:?} are not in this order");
}

async fn every_page_answers_with_and_without_the_slash(engine: Engine) {
    let (site, _) = seeded(engine).await;
    for page in PAGES.iter().chain(STORAGE_PAGES) {
        for path in [page.to_string(), format!("{page}/")] {
            let (status, content_type, body) = get(&site.web.url(&path)).await;
            assert_eq!(
                (status, content_type.as_str()),
                (200, HTML),
                "{path}: {body}"
            );
            assert!(body.starts_with("<!DOCTYPE html>"), "{path}");
        }
    }
    for page in PAGES {
        let (_, _, body) = get(&site.web.url(page)).await;
        assert!(body.contains("<title>HBnB</title>"), "{page}");
        assert!(body.contains("<footer>"), "{page}");
        assert!(body.contains("Holberton School"), "{page}");
        assert!(body.contains("<div class=\"logo\"></div>"), "{page}");
        assert!(body.contains("<section class=\"filters\">"), "{page}");
        assert!(
            body.contains("<button type=\"button\">Search</button>"),
            "{page}"
        );
    }
    // HEAD answers like GET without a body; other methods are refused.
    let head = client()
        .head(site.web.url("/2-hbnb/"))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.text().await.unwrap(), "");
    let post = client()
        .post(site.web.url("/2-hbnb/"))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 405);
    for path in ["/5-hbnb/", "/2-hbnb/x", "/nope", "/static", "/states/a/b"] {
        let (status, _, _) = get(&site.web.url(path)).await;
        assert_eq!(status, 404, "{path}");
    }
}

async fn pages_differ_as_in_the_course(engine: Engine) {
    let (site, _) = seeded(engine).await;
    let mut bodies = BTreeMap::new();
    for page in PAGES {
        bodies.insert(*page, get(&site.web.url(page)).await.2);
    }
    let has = |page: &str, needle: &str| bodies[page].contains(needle);
    // Server-rendered places on /hbnb and 0–2; from the browser on 3 and later.
    for page in ["/hbnb", "/0-hbnb", "/1-hbnb", "/2-hbnb"] {
        assert!(has(page, "<h2>Cozy loft</h2>"), "{page}");
        assert!(has(page, "<b>Owner:</b> Ada Lovelace"), "{page}");
    }
    for page in ["/3-hbnb", "/4-hbnb", "/100-hbnb", "/101-hbnb"] {
        assert!(has(page, "<section class=\"places\">"), "{page}");
        assert!(!has(page, "<article>"), "{page}");
    }
    assert!(!has("/hbnb_filters", "<section class=\"places\">"));
    assert!(!has("/hbnb_filters", "8-places.css"));
    // jQuery and the page's own script from 1 on, none before.
    for page in ["/hbnb", "/hbnb_filters", "/0-hbnb"] {
        assert!(!has(page, "<script"), "{page}");
        assert!(!has(page, "type=\"checkbox\""), "{page}");
    }
    for (page, script) in [
        ("/1-hbnb", "1-hbnb.js"),
        ("/2-hbnb", "2-hbnb.js"),
        ("/3-hbnb", "3-hbnb.js"),
        ("/4-hbnb", "4-hbnb.js"),
        ("/100-hbnb", "100-hbnb.js"),
        ("/101-hbnb", "101-hbnb.js"),
    ] {
        assert!(
            has(page, "scripts&#x2F;jquery.min.js?cache_id=")
                || has(page, "scripts/jquery.min.js?cache_id="),
            "{page}"
        );
        assert!(has(page, &format!("{script}?cache_id=")), "{page}");
        assert!(
            has(page, "data-api=\"\""),
            "{page}: same-origin API by default"
        );
    }
    assert!(!has("/1-hbnb", "id=\"api_status\""));
    for page in ["/2-hbnb", "/3-hbnb", "/4-hbnb", "/100-hbnb", "/101-hbnb"] {
        assert!(has(page, "<div id=\"api_status\"></div>"), "{page}");
    }
    // State and city checkboxes only on 100 and 101.
    for page in ["/1-hbnb", "/2-hbnb", "/3-hbnb", "/4-hbnb"] {
        assert!(!has(page, "data-type=\"state\""), "{page}");
    }
    for page in ["/100-hbnb", "/101-hbnb"] {
        assert!(has(page, "data-type=\"state\""), "{page}");
        assert!(has(page, "data-type=\"city\""), "{page}");
    }
    // 101 alone carries the Reviews block (each place's copy is made from it in the browser).
    let reviews = "<h2>Reviews</h2> <span>show</span>";
    assert!(
        has("/101-hbnb", reviews),
        "101-hbnb's HTML has no Reviews block"
    );
    for page in ["/0-hbnb", "/2-hbnb", "/100-hbnb"] {
        assert!(!has(page, "<h2>Reviews</h2>"), "{page}");
    }
}

async fn filters_are_sorted_and_checkboxes_carry_real_ids(engine: Engine) {
    let (site, world) = seeded(engine).await;
    let body = get(&site.web.url("/100-hbnb/")).await.2;
    let locations = between(
        &body,
        "<div class=\"locations\">",
        "<div class=\"amenities\">",
    );
    assert_sorted(
        locations,
        &[
            "Arizona:",
            "California:",
            "Los Angeles",
            "San Francisco",
            "Oregon:",
            "Portland",
        ],
    );
    for (name, id) in &world.states {
        assert!(
            locations.contains(&format!("<input type=\"checkbox\" data-type=\"state\" data-id=\"{id}\" data-name=\"{name}\">")),
            "{name}: {locations}"
        );
    }
    for (name, id) in &world.cities {
        assert!(
            locations.contains(&format!("<input type=\"checkbox\" data-type=\"city\" data-id=\"{id}\" data-name=\"{name}\">")),
            "{name}"
        );
    }
    let amenities = between(&body, "<div class=\"amenities\">", "</section>");
    assert_sorted(amenities, &["Hot tub", "Pool", "Wifi"]);
    for (name, id) in &world.amenities {
        assert!(
            amenities.contains(&format!(
                "<input type=\"checkbox\" data-id=\"{id}\" data-name=\"{name}\">{name}</li>"
            )),
            "{name}: {amenities}"
        );
    }
    // Server-rendered places: sorted by name, singular/plural as the course.
    let places = get(&site.web.url("/hbnb")).await.2;
    let section = between(&places, "<section class=\"places\">", "</section>");
    assert_sorted(
        section,
        &[
            "&lt;script&gt;",
            "<h2>Beach house</h2>",
            "<h2>Cozy loft</h2>",
            "<h2>Forest cabin</h2>",
        ],
    );
    let cozy = between(section, "<h2>Cozy loft</h2>", "</article>");
    assert!(
        cozy.contains("<div class=\"price_by_night\">$120</div>"),
        "{cozy}"
    );
    assert!(
        cozy.contains("<div class=\"max_guest\">2 Guests</div>"),
        "{cozy}"
    );
    assert!(
        cozy.contains("<div class=\"number_rooms\">1 Bedroom</div>"),
        "{cozy}"
    );
    assert!(
        cozy.contains("<div class=\"number_bathrooms\">1 Bathroom</div>"),
        "{cozy}"
    );
    assert!(
        cozy.contains("<div class=\"description\">A loft.</div>"),
        "{cozy}"
    );
    let beach = between(section, "<h2>Beach house</h2>", "</article>");
    assert!(
        beach.contains("3 Bedrooms") && beach.contains("2 Bathrooms") && beach.contains("6 Guests"),
        "{beach}"
    );
    assert!(beach.contains("<b>Owner:</b> Bob Dylan"), "{beach}");
    let forest = between(section, "<h2>Forest cabin</h2>", "</article>");
    assert!(forest.contains("1 Guest<"), "{forest}");
}

async fn user_supplied_text_is_escaped(engine: Engine) {
    let (site, world) = seeded(engine).await;
    let raw_description_tag = "<img src=x";
    for page in ["/hbnb", "/0-hbnb", "/1-hbnb", "/2-hbnb"] {
        let body = get(&site.web.url(page)).await.2;
        assert!(!body.contains(EVIL_NAME), "{page}");
        assert!(!body.contains(raw_description_tag), "{page}");
        assert!(
            body.contains("<h2>&lt;script&gt;alert(1)&lt;&#x2F;script&gt;</h2>"),
            "{page}"
        );
        assert!(
            body.contains("&lt;img src=x onerror=alert(2)&gt; &amp; &quot;quotes&quot;"),
            "{page}"
        );
    }
    // The same in names that reach attributes and the storage pages.
    let c = client();
    let state = hbnb_tests::api::post(
        &c,
        &site.api.api("/states"),
        &serde_json::json!({"name": "\"><script>alert(3)</script>"}),
    )
    .await;
    assert_eq!(state.0, 201);
    for page in ["/100-hbnb", "/states_list", "/cities_by_states", "/states"] {
        let body = get(&site.web.url(page)).await.2;
        assert!(!body.contains("<script>alert(3)"), "{page}");
        assert!(!body.contains("\"><script"), "{page}");
        assert!(
            body.contains("&quot;&gt;&lt;script&gt;alert(3)"),
            "{page}: {body}"
        );
    }
    let _ = (world, EVIL_DESCRIPTION);
}

async fn storage_pages_match_web_flask(engine: Engine) {
    let (site, world) = seeded(engine).await;
    let body = get(&site.web.url("/states_list")).await.2;
    assert!(body.contains("<TITLE>HBNB</TITLE>"));
    assert!(body.contains("<H1>States</H1>"));
    let items: Vec<String> = ["Arizona", "California", "Oregon"]
        .iter()
        .map(|name| format!("<LI>{}: <B>{name}</B></LI>", world.states[*name]))
        .collect();
    assert_sorted(&body, &items.iter().map(String::as_str).collect::<Vec<_>>());

    let body = get(&site.web.url("/cities_by_states")).await.2;
    let la = format!(
        "<LI>{}: <B>Los Angeles</B></LI>",
        world.cities["Los Angeles"]
    );
    let sf = format!(
        "<LI>{}: <B>San Francisco</B></LI>",
        world.cities["San Francisco"]
    );
    let portland = format!("<LI>{}: <B>Portland</B></LI>", world.cities["Portland"]);
    let california = format!("<LI>{}: <B>California</B>", world.states["California"]);
    let oregon = format!("<LI>{}: <B>Oregon</B>", world.states["Oregon"]);
    assert_sorted(
        &body,
        &[
            california.as_str(),
            la.as_str(),
            sf.as_str(),
            oregon.as_str(),
            portland.as_str(),
        ],
    );

    let body = get(&site.web.url("/states")).await.2;
    assert_sorted(&body, &items.iter().map(String::as_str).collect::<Vec<_>>());

    let ca = &world.states["California"];
    for path in [format!("/states/{ca}"), format!("/states/{ca}/")] {
        let (status, content_type, body) = get(&site.web.url(&path)).await;
        assert_eq!((status, content_type.as_str()), (200, HTML));
        assert!(body.contains("<H1>State: California</H1>"), "{body}");
        assert!(body.contains("<H3>Cities</H3>"), "{body}");
        assert_sorted(&body, &[la.as_str(), sf.as_str()]);
        assert!(!body.contains("Portland"));
    }
    let (status, _, body) = get(&site.web.url("/states/no-such-id")).await;
    assert_eq!(status, 200);
    assert!(body.contains("<H1>Not found!</H1>"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_public_url_reaches_the_page_scripts() {
    let site = Site::start_with(
        Engine::Sqlite,
        &[("API_PUBLIC_URL", "http://api.example:5002/")],
    )
    .await;
    let body = get(&site.web.url("/4-hbnb")).await.2;
    assert!(
        body.contains("data-api=\"http:&#x2F;&#x2F;api.example:5002\""),
        "{body}"
    );
}

/// Every link on every page, with the body, content type and headers it answered with.
async fn all_assets(web: &Service) -> BTreeMap<String, (String, reqwest::header::HeaderMap)> {
    let mut links = BTreeSet::new();
    for page in PAGES {
        let body = get(&web.url(page)).await.2;
        for link in asset_links(&body) {
            links.insert(link);
        }
    }
    let mut assets = BTreeMap::new();
    for link in links {
        let response = client().get(web.url(&link)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{link}");
        let headers = response.headers().clone();
        let content_type = header(&response, "content-type");
        assets.insert(link, (content_type, headers));
    }
    assets
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_asset_link_resolves_fingerprinted_and_cacheable() {
    let (site, _) = seeded(Engine::Sqlite).await;
    let assets = all_assets(&site.web).await;
    let files: BTreeSet<&str> = assets
        .keys()
        .map(|link| link.split('?').next().unwrap())
        .collect();
    for expected in [
        "/static/styles/4-common.css",
        "/static/styles/3-header.css",
        "/static/styles/3-footer.css",
        "/static/styles/6-filters.css",
        "/static/styles/8-places.css",
        "/static/images/icon.png",
        "/static/scripts/jquery.min.js",
        "/static/scripts/1-hbnb.js",
        "/static/scripts/2-hbnb.js",
        "/static/scripts/3-hbnb.js",
        "/static/scripts/4-hbnb.js",
        "/static/scripts/100-hbnb.js",
        "/static/scripts/101-hbnb.js",
    ] {
        assert!(files.contains(expected), "{expected} not linked: {files:?}");
    }
    for (link, (content_type, headers)) in &assets {
        assert!(link.starts_with("/static/"), "{link} is not absolute");
        let (_, query) = link.split_once('?').expect("a query");
        let id = query.strip_prefix("cache_id=").expect("cache_id");
        assert!(
            id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()),
            "{link}"
        );
        let expected_type = match link.split('?').next().unwrap().rsplit('.').next() {
            Some("css") => "text/css; charset=utf-8",
            Some("js") => "text/javascript; charset=utf-8",
            Some("png") => "image/png",
            other => panic!("unexpected asset {link} ({other:?})"),
        };
        assert_eq!(content_type, expected_type, "{link}");
        assert_eq!(
            headers["cache-control"], "public, max-age=31536000, immutable",
            "{link}"
        );
        assert!(headers.contains_key("etag"), "{link}");
        assert!(headers.contains_key("last-modified"), "{link}");
    }
    // The images the stylesheets use resolve too.
    for (link, _) in assets.iter().filter(|(l, _)| l.contains(".css")) {
        let css = get(&site.web.url(link)).await.2;
        for part in css.split("url(\"").skip(1) {
            let target = &part[..part.find('"').unwrap()];
            let resolved = target.replace("../", "/static/");
            let (status, content_type, _) = get(&site.web.url(&resolved)).await;
            assert_eq!(
                (status, content_type.as_str()),
                (200, "image/png"),
                "{target} from {link}"
            );
        }
    }
    for image in [
        "logo.png",
        "icon.png",
        "icon_bath.png",
        "icon_bed.png",
        "icon_group.png",
    ] {
        let (status, content_type, _) =
            get(&site.web.url(&format!("/static/images/{image}"))).await;
        assert_eq!(
            (status, content_type.as_str()),
            (200, "image/png"),
            "{image}"
        );
    }
    // Stable: the same links from a second render and from a second process.
    let again = all_assets(&site.web).await;
    assert_eq!(
        assets.keys().collect::<Vec<_>>(),
        again.keys().collect::<Vec<_>>()
    );
    let other = Service::start("web-dynamic", &[("DATABASE_URL", site.api.db.url.as_str())]).await;
    let other_assets = all_assets(&other).await;
    assert_eq!(
        assets.keys().collect::<Vec<_>>(),
        other_assets.keys().collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_files_revalidate_with_304_and_serve_ranges() {
    let site = Site::start(Engine::Sqlite).await;
    let url = site.web.url("/static/styles/3-header.css");
    let first = client().get(&url).send().await.unwrap();
    assert_eq!(first.status(), 200);
    // No (or a stale) cache_id: cacheable, but revalidated every time.
    assert_eq!(header(&first, "cache-control"), "no-cache");
    let etag = header(&first, "etag");
    let last_modified = header(&first, "last-modified");
    let body = first.text().await.unwrap();
    assert!(
        body.contains("#api_status.available {\n  background-color: #ff545f;\n}"),
        "{body}"
    );
    let stale = client()
        .get(format!("{url}?cache_id=0000000000000000"))
        .send()
        .await
        .unwrap();
    assert_eq!(header(&stale, "cache-control"), "no-cache");

    let by_etag = client()
        .get(&url)
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(by_etag.status(), 304);
    assert_eq!(by_etag.text().await.unwrap(), "");
    let by_date = client()
        .get(&url)
        .header("If-Modified-Since", &last_modified)
        .send()
        .await
        .unwrap();
    assert_eq!(by_date.status(), 304);
    let changed = client()
        .get(&url)
        .header("If-None-Match", "\"other\"")
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 200);

    let range = client()
        .get(&url)
        .header("Range", "bytes=0-9")
        .send()
        .await
        .unwrap();
    assert_eq!(range.status(), 206);
    assert_eq!(
        header(&range, "content-range"),
        format!("bytes 0-9/{}", body.len())
    );
    assert_eq!(range.text().await.unwrap(), &body[..10]);
    let png = client()
        .get(site.web.url("/static/images/logo.png"))
        .header("Range", "bytes=0-7")
        .send()
        .await
        .unwrap();
    assert_eq!(png.status(), 206);
    assert_eq!(&png.bytes().await.unwrap()[..], b"\x89PNG\r\n\x1a\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_is_compressed_and_images_are_not() {
    let site = Site::start(Engine::Sqlite).await;
    for encoding in ["gzip", "br"] {
        for path in [
            "/static/scripts/jquery.min.js",
            "/static/styles/8-places.css",
            "/2-hbnb/",
        ] {
            let response = client()
                .get(site.web.url(path))
                .header("Accept-Encoding", encoding)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200, "{path}");
            assert_eq!(header(&response, "content-encoding"), encoding, "{path}");
            assert!(
                header(&response, "vary")
                    .to_lowercase()
                    .contains("accept-encoding"),
                "{path}"
            );
        }
        let image = client()
            .get(site.web.url("/static/images/logo.png"))
            .header("Accept-Encoding", encoding)
            .send()
            .await
            .unwrap();
        assert_eq!(
            header(&image, "content-encoding"),
            "",
            "images are sent as they are"
        );
    }
    let plain = client()
        .get(site.web.url("/static/scripts/jquery.min.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(header(&plain, "content-encoding"), "");
    assert!(plain.text().await.unwrap().contains("jQuery v3"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn path_traversal_is_refused() {
    let site = Site::start(Engine::Sqlite).await;
    let port = site.web.port;
    for path in [
        "/static/../Cargo.toml",
        "/static/../../Cargo.toml",
        "/static/styles/../../Cargo.toml",
        "/static/%2e%2e/Cargo.toml",
        "/static/%2E%2E/%2E%2E/Cargo.toml",
        "/static/.%2e/Cargo.toml",
        "/static/%2e%2e%2fCargo.toml",
        "/static/styles%2f..%2f..%2fCargo.toml",
        "/static/..%5cCargo.toml",
        "/static/..\\Cargo.toml",
        "/static/styles/%00",
        "/static/.hidden",
        "/static/",
        "/static/styles",
        "/static/styles/",
        "/static/nope.css",
        "/static/../src/lib.rs",
    ] {
        let status = raw_get_status(port, path);
        assert!(status == 400 || status == 404, "{path} answered {status}");
    }
    assert_eq!(raw_get_status(port, "/static/styles/4-common.css"), 200);
}

// The pages that read the database, on every engine.
hbnb_tests::all_engines!(
    every_page_answers_with_and_without_the_slash,
    pages_differ_as_in_the_course,
    filters_are_sorted_and_checkboxes_carry_real_ids,
    user_supplied_text_is_escaped,
    storage_pages_match_web_flask
);
