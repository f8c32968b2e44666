//! The place articles of the server-rendered pages (/hbnb, /0-hbnb to /2-hbnb), written straight
//! from the rows instead of by tera.
//!
//! Why: tera turns the context into `serde_json::Value` maps and looks up every `{{ place.x }}`
//! through a JSON pointer; over 500 places that was most of a 35 ms page once the response cache
//! was off or emptied by writes. The HTML below is byte for byte what the template's loop wrote
//! (`REFERENCE_LOOP` in the tests renders both and compares them), escaped as tera escapes.

use std::fmt::Write;

use hbnb_storage::PlaceWithOwner;

/// The articles of `places`, as `{{ places_html | safe }}` in `hbnb.html` inserts them.
pub(crate) fn place_articles(places: &[PlaceWithOwner]) -> String {
    let mut html = String::with_capacity(places.len() * 700);
    for place in places {
        let owner = |name: &Option<String>| name.as_deref().unwrap_or("").to_owned();
        let plural = |n: i32| if n == 1 { "" } else { "s" };
        let p = &place.place;
        html.push_str("\n        <article>\n          <div class=\"title_box\">\n            <h2>");
        escape_into(&mut html, &p.name);
        let _ = write!(
            html,
            "</h2>\n            <div class=\"price_by_night\">${}</div>\n          </div>\n          \
             <div class=\"information\">\n            \
             <div class=\"max_guest\">{} Guest{}</div>\n            \
             <div class=\"number_rooms\">{} Bedroom{}</div>\n            \
             <div class=\"number_bathrooms\">{} Bathroom{}</div>\n          </div>\n          \
             <div class=\"user\"><b>Owner:</b> ",
            p.price_by_night,
            p.max_guest,
            plural(p.max_guest),
            p.number_rooms,
            plural(p.number_rooms),
            p.number_bathrooms,
            plural(p.number_bathrooms),
        );
        escape_into(&mut html, &owner(&place.owner_first_name));
        html.push(' ');
        escape_into(&mut html, &owner(&place.owner_last_name));
        html.push_str("</div>\n          <div class=\"description\">");
        escape_into(&mut html, p.description.as_deref().unwrap_or(""));
        html.push_str("</div>\n        </article>");
    }
    html
}

/// `text` escaped as tera's autoescape does (`tera::escape_html`), appended to `html` without a
/// string of its own per value.
fn escape_into(html: &mut String, text: &str) {
    let mut plain = 0;
    for (at, byte) in text.bytes().enumerate() {
        let entity = match byte {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' => "&quot;",
            b'\'' => "&#x27;",
            b'/' => "&#x2F;",
            _ => continue,
        };
        html.push_str(&text[plain..at]);
        html.push_str(entity);
        plain = at + 1;
    }
    html.push_str(&text[plain..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use hbnb_storage::Place;

    /// The loop `hbnb.html` had before the articles were written here, verbatim.
    const REFERENCE_LOOP: &str = r#"<h1>Places</h1>
        {%- for place in places %}
        <article>
          <div class="title_box">
            <h2>{{ place.name }}</h2>
            <div class="price_by_night">${{ place.price_by_night }}</div>
          </div>
          <div class="information">
            <div class="max_guest">{{ place.max_guest }} Guest{% if place.max_guest != 1 %}s{% endif %}</div>
            <div class="number_rooms">{{ place.number_rooms }} Bedroom{% if place.number_rooms != 1 %}s{% endif %}</div>
            <div class="number_bathrooms">{{ place.number_bathrooms }} Bathroom{% if place.number_bathrooms != 1 %}s{% endif %}</div>
          </div>
          <div class="user"><b>Owner:</b> {{ place.owner_first_name | default(value="") }} {{ place.owner_last_name | default(value="") }}</div>
          <div class="description">{{ place.description | default(value="") }}</div>
        </article>
        {%- endfor %}"#;

    #[test]
    fn the_articles_are_what_the_template_wrote() {
        let at = chrono::NaiveDate::from_ymd_opt(2017, 3, 25)
            .unwrap()
            .and_hms_opt(2, 17, 6)
            .unwrap();
        let place =
            |name: &str, n: i32, description: Option<&str>, owner: Option<&str>| PlaceWithOwner {
                place: Place {
                    id: format!("id-{name}"),
                    created_at: at,
                    updated_at: at,
                    city_id: "c".to_owned(),
                    user_id: "u".to_owned(),
                    name: name.to_owned(),
                    description: description.map(str::to_owned),
                    number_rooms: n,
                    number_bathrooms: n + 1,
                    max_guest: n - 1,
                    price_by_night: n * 10,
                    latitude: None,
                    longitude: None,
                },
                owner_first_name: owner.map(str::to_owned),
                owner_last_name: owner.map(|o| format!("{o} </b>'&\"/")),
            };
        let places = [
            place("Plain", 1, Some("A room."), Some("Ann")),
            place("<script>alert('x')</script> & \"co\"/", 2, None, None),
            place(
                "Caf\u{e9} \u{1F3E0}",
                0,
                Some("line\nbreak, a/b & c<d>e"),
                Some(""),
            ),
            place("", -1, Some(""), Some("Bo")),
        ];
        let mut tera = tera::Tera::default();
        tera.add_raw_template("loop.html", REFERENCE_LOOP).unwrap();
        for count in [0, 1, places.len()] {
            let mut context = tera::Context::new();
            context.insert("places", &places[..count]);
            let expected = tera.render("loop.html", &context).unwrap();
            let written = format!("<h1>Places</h1>{}", place_articles(&places[..count]));
            assert_eq!(written, expected, "{count} places");
        }
    }
}
