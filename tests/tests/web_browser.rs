//! The whole stack in a real browser: Debian's chromium (headless) driven through chromedriver
//! with fantoccini, against the gateway on a free port in front of the api-service and
//! web-dynamic started here, with data seeded through the API.
//!
//! Needs `chromium` and `chromedriver` on the PATH (`scripts/install-browser.sh`). Screenshots
//! of 2-hbnb and 101-hbnb go to `target/screenshots/`.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use hbnb_tests::db::{Api, Engine};
use hbnb_tests::web::{seed, World, EVIL_NAME};
use hbnb_tests::{client, closed_port, workspace_root, Service};
use serde_json::{json, Value};

/// How long any one expected change in the page may take.
const DEADLINE: Duration = Duration::from_secs(20);

/// chromedriver on a free port; killed on drop.
struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    async fn start() -> Driver {
        let port = closed_port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver is not installed: run scripts/install-browser.sh");
        let driver = Driver { child, port };
        let until = Instant::now() + DEADLINE;
        loop {
            let ready = client()
                .get(driver.url("/status"))
                .send()
                .await
                .ok()
                .filter(|r| r.status().is_success());
            if let Some(response) = ready {
                let status: Value = response.json().await.unwrap();
                if status["value"]["ready"] == true {
                    return driver;
                }
            }
            assert!(Instant::now() < until, "chromedriver did not become ready");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    async fn browser(&self) -> Client {
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--window-size=1280,1000",
                    "--no-first-run",
                    "--no-default-browser-check",
                    "--disable-extensions",
                    "--disable-background-networking",
                ],
            },
            "goog:loggingPrefs": { "browser": "ALL" },
        });
        let serde_json::Value::Object(capabilities) = capabilities else {
            unreachable!()
        };
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&self.url(""))
            .await
            .expect("a chromium session (is chromium installed? scripts/install-browser.sh)")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The browser's console since the last call (chromedriver's log endpoint; reading clears it).
async fn console(driver: &Driver, browser: &Client) -> Vec<Value> {
    let session = browser.session_id().await.unwrap().expect("a session id");
    let response = client()
        .post(driver.url(&format!("/session/{session}/se/log")))
        .json(&json!({ "type": "browser" }))
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    body["value"].as_array().cloned().unwrap_or_default()
}

/// Fails on any console error (script errors, failed requests, 4xx/5xx answers) and on any
/// resource the page loaded with an error status.
async fn assert_clean(driver: &Driver, browser: &Client, page: &str) {
    let errors: Vec<Value> = console(driver, browser)
        .await
        .into_iter()
        .filter(|entry| entry["level"] == "SEVERE")
        .collect();
    assert!(errors.is_empty(), "{page}: console errors {errors:#?}");
    let failed = browser
        .execute(
            "return performance.getEntriesByType('resource')
                .filter(e => e.responseStatus >= 400)
                .map(e => e.name + ' ' + e.responseStatus);",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(failed, json!([]), "{page}: failed requests");
}

/// Evaluates `script` (a JS expression) until `ok` accepts its value, or fails at the deadline.
async fn wait_for(
    browser: &Client,
    what: &str,
    script: &str,
    ok: impl Fn(&Value) -> bool,
) -> Value {
    let until = Instant::now() + DEADLINE;
    loop {
        let value = browser
            .execute(&format!("return ({script});"), vec![])
            .await
            .unwrap_or(Value::Null);
        if ok(&value) {
            return value;
        }
        assert!(
            Instant::now() < until,
            "{what}: still {value} after {DEADLINE:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

const PLACE_NAMES: &str =
    "Array.from(document.querySelectorAll('section.places article .title_box h2')).map(e => e.textContent)";

/// Waits until the places shown are exactly `expected` (in the page's order: sorted by name).
async fn wait_for_places(browser: &Client, what: &str, expected: &[&str]) {
    let mut sorted: Vec<&str> = expected.to_vec();
    sorted.sort_unstable();
    let expected = json!(sorted);
    wait_for(browser, what, PLACE_NAMES, |v| *v == expected).await;
}

/// Clicks `element` as a person would: scrolled to the middle of the viewport first, so the
/// fixed header and footer never sit on top of it (chromedriver only scrolls it into view).
async fn click(browser: &Client, element: &fantoccini::elements::Element) {
    let argument = serde_json::to_value(element).unwrap();
    browser
        .execute(
            "arguments[0].scrollIntoView({block: 'center', inline: 'center'});",
            vec![argument],
        )
        .await
        .unwrap();
    element.click().await.unwrap();
}

/// Opens the popover holding `checkbox` (it shows on hover, as the course's CSS) and ticks it.
async fn tick(browser: &Client, popover_owner: &str, checkbox: &str) {
    // No scrolling here: the popover shows on hover, and moving the page would close it.
    browser
        .find(Locator::Css(&format!("{popover_owner} h3")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let element = browser.find(Locator::Css(checkbox)).await.unwrap();
    element.click().await.unwrap();
    assert_eq!(
        element.prop("checked").await.unwrap().as_deref(),
        Some("true"),
        "{checkbox}"
    );
}

async fn search(browser: &Client) {
    let before = browser
        .execute("return Number(document.querySelector('section.places').getAttribute('data-searches') || 0);", vec![])
        .await
        .unwrap();
    let button = browser
        .find(Locator::Css("section.filters button"))
        .await
        .unwrap();
    click(browser, &button).await;
    let before = before.as_i64().unwrap_or(0);
    wait_for(
        browser,
        "the search answer",
        "Number(document.querySelector('section.places').getAttribute('data-searches') || 0)",
        |v| v.as_i64().unwrap_or(0) > before,
    )
    .await;
}

async fn screenshot(browser: &Client, name: &str) {
    let dir: PathBuf = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
        .join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    let png = browser.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
    let path = dir.join(format!("{name}.png"));
    std::fs::write(&path, png).unwrap();
    eprintln!("screenshot: {}", path.display());
}

async fn status_available(browser: &Client) -> bool {
    browser
        .execute(
            "return document.getElementById('api_status').classList.contains('available');",
            vec![],
        )
        .await
        .unwrap()
        == json!(true)
}

struct Stack {
    gateway: Service,
    web: Service,
    api: Api,
    world: World,
}

async fn stack() -> Stack {
    let api = Api::start(Engine::Sqlite).await;
    let world = seed(&api).await;
    let web = Service::start("web-dynamic", &[("DATABASE_URL", api.db.url.as_str())]).await;
    let nowhere = format!("http://127.0.0.1:{}", closed_port());
    let gateway = Service::start(
        "gateway",
        &[
            ("API_UPSTREAM", api.service.base_url().as_str()),
            ("WEB_UPSTREAM", web.base_url().as_str()),
            ("HELLO_UPSTREAM", nowhere.as_str()),
            ("NUMBER_UPSTREAM", nowhere.as_str()),
        ],
    )
    .await;
    Stack {
        gateway,
        web,
        api,
        world,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_site_works_in_a_real_browser_through_the_gateway() {
    let stack = stack().await;
    let driver = Driver::start().await;
    let browser = driver.browser().await;
    let gw = |path: &str| stack.gateway.url(path);
    let all = ["Beach house", "Cozy loft", "Forest cabin", EVIL_NAME];

    // 2-hbnb at the gateway's root: server-rendered places, the status circle, amenity names.
    browser.goto(&gw("/")).await.unwrap();
    wait_for(
        &browser,
        "the status circle",
        "document.getElementById('api_status').className",
        |v| *v == json!("available"),
    )
    .await;
    assert_eq!(browser.title().await.unwrap(), "HBnB");
    wait_for_places(&browser, "2-hbnb places", &all).await;
    let colour = browser
        .execute(
            "return getComputedStyle(document.getElementById('api_status')).backgroundColor;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(colour, json!("rgb(255, 84, 95)"), "#ff545f when available");
    tick(
        &browser,
        "div.amenities",
        &format!(
            "div.amenities input[data-id='{}']",
            stack.world.amenities["Wifi"]
        ),
    )
    .await;
    tick(
        &browser,
        "div.amenities",
        &format!(
            "div.amenities input[data-id='{}']",
            stack.world.amenities["Hot tub"]
        ),
    )
    .await;
    wait_for(
        &browser,
        "amenity names",
        "document.querySelector('div.amenities h4').textContent",
        |v| *v == json!("Wifi, Hot tub"),
    )
    .await;
    let logo = browser
        .execute("const i = new Image(); i.src = getComputedStyle(document.querySelector('header .logo')).backgroundImage.slice(5, -2); return i.src;", vec![])
        .await
        .unwrap();
    assert!(
        logo.as_str()
            .unwrap_or("")
            .contains("/static/images/logo.png"),
        "{logo}"
    );
    screenshot(&browser, "2-hbnb").await;
    assert_clean(&driver, &browser, "2-hbnb").await;

    // 4-hbnb: places from the API; Search narrows by every checked amenity.
    browser.goto(&gw("/4-hbnb/")).await.unwrap();
    wait_for_places(&browser, "4-hbnb places on load", &all).await;
    tick(
        &browser,
        "div.amenities",
        &format!(
            "div.amenities input[data-id='{}']",
            stack.world.amenities["Wifi"]
        ),
    )
    .await;
    search(&browser).await;
    wait_for_places(&browser, "Wifi places", &["Cozy loft", "Forest cabin"]).await;
    tick(
        &browser,
        "div.amenities",
        &format!(
            "div.amenities input[data-id='{}']",
            stack.world.amenities["Pool"]
        ),
    )
    .await;
    search(&browser).await;
    wait_for_places(&browser, "Wifi and Pool places", &["Cozy loft"]).await;
    // The name that tries to inject a script is shown as text (and no alert ever opened).
    browser.goto(&gw("/3-hbnb")).await.unwrap();
    wait_for_places(&browser, "3-hbnb places", &all).await;
    assert_clean(&driver, &browser, "3/4-hbnb").await;

    // 100-hbnb: a state filter, then a city of another state added (inclusive).
    browser.goto(&gw("/100-hbnb/")).await.unwrap();
    wait_for_places(&browser, "100-hbnb places on load", &all).await;
    tick(
        &browser,
        "div.locations",
        &format!(
            "input[data-type='state'][data-id='{}']",
            stack.world.states["Oregon"]
        ),
    )
    .await;
    search(&browser).await;
    wait_for_places(&browser, "Oregon's places", &["Forest cabin", EVIL_NAME]).await;
    tick(
        &browser,
        "div.locations",
        &format!(
            "input[data-type='city'][data-id='{}']",
            stack.world.cities["Los Angeles"]
        ),
    )
    .await;
    wait_for(
        &browser,
        "location names",
        "document.querySelector('div.locations h4').textContent",
        |v| *v == json!("Oregon, Los Angeles"),
    )
    .await;
    search(&browser).await;
    wait_for_places(
        &browser,
        "Oregon's and Los Angeles' places",
        &["Beach house", "Forest cabin", EVIL_NAME],
    )
    .await;
    tick(
        &browser,
        "div.amenities",
        &format!(
            "div.amenities input[data-id='{}']",
            stack.world.amenities["Pool"]
        ),
    )
    .await;
    search(&browser).await;
    wait_for_places(&browser, "with a Pool", &["Beach house"]).await;
    assert_clean(&driver, &browser, "100-hbnb").await;

    // 101-hbnb: reviews show (with the reviewer's name) and hide.
    browser.goto(&gw("/101-hbnb")).await.unwrap();
    wait_for_places(&browser, "101-hbnb places on load", &all).await;
    let cozy = &stack.world.places["Cozy loft"];
    let toggle = browser
        .find(Locator::Css(&format!(
            "article[data-id='{cozy}'] .reviews span"
        )))
        .await
        .unwrap();
    assert_eq!(toggle.text().await.unwrap(), "show");
    click(&browser, &toggle).await;
    let reviews_of = |id: &str| {
        format!("Array.from(document.querySelectorAll(\"article[data-id='{id}'] .reviews li\")).map(e => e.textContent)")
    };
    let shown = wait_for(&browser, "Cozy loft's reviews", &reviews_of(cozy), |v| {
        let text = v.to_string();
        v.as_array().is_some_and(|a| a.len() == 2)
            && text.contains("From Bob Dylan")
            && text.contains("From Ada Lovelace")
    })
    .await;
    assert!(
        shown.to_string().contains("Great stay") && shown.to_string().contains("Lovely view"),
        "{shown}"
    );
    assert_eq!(toggle.text().await.unwrap(), "hide");
    let forest = &stack.world.places["Forest cabin"];
    let none: Value = browser
        .execute(&format!("return ({});", reviews_of(forest)), vec![])
        .await
        .unwrap();
    assert_eq!(none, json!([]), "other places' reviews stay hidden");
    screenshot(&browser, "101-hbnb").await;
    click(&browser, &toggle).await;
    wait_for(&browser, "reviews hidden", &reviews_of(cozy), |v| {
        *v == json!([])
    })
    .await;
    assert_eq!(toggle.text().await.unwrap(), "show");
    assert_clean(&driver, &browser, "101-hbnb").await;

    // Every page the browser loaded asked for its assets through the gateway, by absolute URL.
    let resources = browser
        .execute(
            "return performance.getEntriesByType('resource').map(e => e.name);",
            vec![],
        )
        .await
        .unwrap();
    let resources: BTreeSet<String> = serde_json::from_value(resources).unwrap();
    assert!(
        resources
            .iter()
            .all(|r| r.starts_with(&stack.gateway.base_url())),
        "{resources:?}"
    );

    // The status circle goes grey when the API stops, and the site itself stays up.
    browser.goto(&gw("/2-hbnb")).await.unwrap();
    wait_for(
        &browser,
        "available again",
        "document.getElementById('api_status').className",
        |v| *v == json!("available"),
    )
    .await;
    assert!(status_available(&browser).await);
    stack.api.service.signal("KILL");
    wait_for(
        &browser,
        "the status circle turning grey",
        "getComputedStyle(document.getElementById('api_status')).backgroundColor",
        |v| *v == json!("rgb(204, 204, 204)"),
    )
    .await;
    assert!(!status_available(&browser).await);
    let page = client()
        .get(stack.web.url("/2-hbnb/"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    browser.close().await.unwrap();
}
