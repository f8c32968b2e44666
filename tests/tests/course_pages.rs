//! hello-service and number-service, directly and through the gateway: exact status, content
//! type and body of every course route.

use hbnb_tests::{client, Service};

async fn get(url: &str) -> (u16, String, String) {
    let response = client().get(url).send().await.expect("request");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, content_type, response.text().await.expect("body"))
}

const HTML: &str = "text/html; charset=utf-8";

#[tokio::test]
async fn hello_service_serves_the_onepage_with_and_without_slash() {
    let hello = Service::start("hello-service", &[]).await;
    for path in ["/airbnb-onepage/", "/airbnb-onepage", "/"] {
        let (status, content_type, body) = get(&hello.url(path)).await;
        assert_eq!(
            (status, content_type.as_str(), body.as_str()),
            (200, HTML, "Hello HBNB!"),
            "{path}"
        );
    }
    let (status, _, _) = get(&hello.url("/airbnb-onepage/extra")).await;
    assert_eq!(status, 404);
    let (status, _, body) = get(&hello.url("/nope")).await;
    assert_eq!(status, 404);
    assert!(body.contains("Not Found"), "{body}");
}

#[tokio::test]
async fn hello_service_answers_head_and_refuses_other_methods() {
    let hello = Service::start("hello-service", &[]).await;
    let head = client()
        .head(hello.url("/airbnb-onepage/"))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["content-length"], "11");
    assert_eq!(head.text().await.unwrap(), "");
    for method in ["POST", "PUT", "DELETE", "PATCH"] {
        let response = client()
            .request(method.parse().unwrap(), hello.url("/airbnb-onepage/"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 405, "{method}");
        assert!(response.headers()["allow"]
            .to_str()
            .unwrap()
            .contains("GET"));
    }
}

#[tokio::test]
async fn number_service_carries_every_route_of_tasks_0_to_6() {
    let number = Service::start("number-service", &[]).await;
    let cases: &[(&str, &str)] = &[
        ("/", "Hello HBNB!"),
        ("/hbnb", "HBNB"),
        ("/hbnb/", "HBNB"),
        ("/c/is_fun", "C is fun"),
        ("/c/is_fun/", "C is fun"),
        ("/c/%3Cb%3E", "C &lt;b&gt;"),
        ("/python", "Python is cool"),
        ("/python/", "Python is cool"),
        ("/python/is_magic", "Python is magic"),
        ("/number/89", "89 is a number"),
        ("/number/007", "7 is a number"),
    ];
    for (path, expected) in cases {
        let (status, content_type, body) = get(&number.url(path)).await;
        assert_eq!(
            (status, content_type.as_str(), body.as_str()),
            (200, HTML, *expected),
            "{path}"
        );
    }
    for path in [
        "/c/",
        "/number/-4",
        "/number/+5",
        "/number/3.5",
        "/number/abc",
        "/nope",
        "/number_odd_or_even/",
        "/number_template/x",
    ] {
        assert_eq!(get(&number.url(path)).await.0, 404, "{path}");
    }
}

fn number_page(h1: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<HTML lang=\"en\">\n    <HEAD>\n        <TITLE>HBNB</TITLE>\n    </HEAD>\n    <BODY>\n        <H1>{h1}</H1>\n    </BODY>\n</HTML>\n"
    )
}

#[tokio::test]
async fn number_service_templates_say_odd_or_even_for_any_length() {
    let number = Service::start("number-service", &[]).await;
    let cases = [
        ("/number_template/42", "Number: 42"),
        ("/number_odd_or_even/89", "Number: 89 is odd"),
        ("/number_odd_or_even/8/", "Number: 8 is even"),
        ("/number_odd_or_even/007", "Number: 7 is odd"),
        ("/number_odd_or_even/0", "Number: 0 is even"),
        (
            "/number_odd_or_even/123456789012345678901234567890",
            "Number: 123456789012345678901234567890 is even",
        ),
        (
            "/number_odd_or_even/123456789012345678901234567",
            "Number: 123456789012345678901234567 is odd",
        ),
    ];
    for (path, h1) in cases {
        let (status, content_type, body) = get(&number.url(path)).await;
        assert_eq!(status, 200, "{path}");
        assert_eq!(content_type, HTML);
        assert_eq!(body, number_page(h1), "{path}");
    }
    for path in [
        "/number_odd_or_even/-4",
        "/number_odd_or_even/4.0",
        "/number_odd_or_even/four",
        "/number_odd_or_even/1%200",
    ] {
        assert_eq!(get(&number.url(path)).await.0, 404, "{path}");
    }
}

#[tokio::test]
async fn the_gateway_serves_the_course_pages_with_the_nginx_routes() {
    let hello = Service::start("hello-service", &[]).await;
    let number = Service::start("number-service", &[]).await;
    let gateway = Service::start(
        "gateway",
        &[
            ("HELLO_UPSTREAM", &hello.base_url()),
            ("NUMBER_UPSTREAM", &number.base_url()),
            ("SERVED_BY", "web-01"),
        ],
    )
    .await;
    let response = client()
        .get(gateway.url("/airbnb-onepage/"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-served-by"], "web-01");
    assert_eq!(response.headers()["content-type"], HTML);
    assert_eq!(response.headers()["content-length"], "11");
    assert_eq!(response.text().await.unwrap(), "Hello HBNB!");

    let (status, _, body) = get(&gateway.url("/airbnb-dynamic/number_odd_or_even/89")).await;
    assert_eq!((status, body), (200, number_page("Number: 89 is odd")));
    let (status, _, body) =
        get(&gateway.url("/airbnb-dynamic/number_odd_or_even/123456789012345678901234567890"))
            .await;
    assert_eq!(
        (status, body),
        (
            200,
            number_page("Number: 123456789012345678901234567890 is even")
        )
    );
    for path in [
        "/airbnb-dynamic/number_odd_or_even/abc",
        "/airbnb-dynamic/number_odd_or_even/-4",
        "/airbnb-dynamic/number_odd_or_even/",
        "/airbnb-dynamic/number/4",
        "/airbnb-dynamic/",
    ] {
        let response = client().get(gateway.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 404, "{path}");
        assert_eq!(response.headers()["x-served-by"], "web-01", "{path}");
    }
    let head = client()
        .head(gateway.url("/airbnb-onepage/"))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["content-length"], "11");
}
