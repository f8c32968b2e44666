/* 101-hbnb: 100-hbnb, plus each place's reviews: "show" fetches them (with each reviewer's
   name) and turns into "hide", which removes them again. */
$(function () {
  const api = ($('body').attr('data-api') || '').replace(/\/$/, '');

  const amenities = {};
  const states = {};
  const cities = {};

  function track (selector, checked, h4, lists) {
    $(selector).on('change', function () {
      const id = $(this).attr('data-id');
      if (this.checked) {
        checked[id] = $(this).attr('data-name');
      } else {
        delete checked[id];
      }
      const names = [];
      lists.forEach(function (list) { names.push.apply(names, Object.values(list)); });
      $(h4).text(names.join(', ') || '\u00a0');
    });
  }
  track('div.amenities input[type="checkbox"]', amenities, 'div.amenities h4', [amenities]);
  track('div.locations input[data-type="state"]', states, 'div.locations h4', [states, cities]);
  track('div.locations input[data-type="city"]', cities, 'div.locations h4', [states, cities]);

  function checkStatus () {
    $.ajax({ url: api + '/api/v1/status/', dataType: 'json', timeout: 3000 })
      .done(function (data) {
        $('#api_status').toggleClass('available', Boolean(data && data.status === 'OK'));
      })
      .fail(function () {
        $('#api_status').removeClass('available');
      });
  }
  checkStatus();
  setInterval(checkStatus, 2000);

  function plural (n, word) {
    return n + ' ' + word + (n === 1 ? '' : 's');
  }

  function article (place) {
    return $('<article>').attr('data-id', place.id).append(
      $('<div class="title_box">').append(
        $('<h2>').text(place.name),
        $('<div class="price_by_night">').text('$' + place.price_by_night)),
      $('<div class="information">').append(
        $('<div class="max_guest">').text(plural(place.max_guest, 'Guest')),
        $('<div class="number_rooms">').text(plural(place.number_rooms, 'Bedroom')),
        $('<div class="number_bathrooms">').text(plural(place.number_bathrooms, 'Bathroom'))),
      $('<div class="description">').text(place.description || ''),
      // The page's Reviews block (<h2>Reviews</h2> and its "show" toggle), one per place.
      $($.parseHTML($('#place-reviews').html().trim())).find('span').attr('data-id', place.id).end());
  }

  function search (filters) {
    $.ajax({
      url: api + '/api/v1/places_search/',
      type: 'POST',
      contentType: 'application/json',
      data: JSON.stringify(filters),
      dataType: 'json'
    }).done(function (places) {
      const section = $('section.places');
      section.find('article').remove();
      places.sort(function (a, b) { return a.name.localeCompare(b.name); });
      places.forEach(function (place) { section.append(article(place)); });
      section.attr('data-searches', String(Number(section.attr('data-searches') || 0) + 1));
    });
  }

  const users = {};
  function userName (id) {
    if (!users[id]) {
      users[id] = $.getJSON(api + '/api/v1/users/' + encodeURIComponent(id)).then(function (user) {
        return [user.first_name, user.last_name].filter(Boolean).join(' ') || user.email || 'someone';
      });
    }
    return users[id];
  }

  function review (item) {
    const heading = $('<h3>').text('From …');
    userName(item.user_id).done(function (name) {
      heading.text('From ' + name + ' the ' + String(item.created_at).slice(0, 10));
    });
    return $('<li>').append(heading, $('<p>').text(item.text));
  }

  $('section.places').on('click', '.reviews span', function () {
    const toggle = $(this);
    const list = toggle.closest('.reviews').find('ul');
    if (toggle.text() === 'hide') {
      list.empty();
      toggle.text('show');
      return;
    }
    $.getJSON(api + '/api/v1/places/' + encodeURIComponent(toggle.attr('data-id')) + '/reviews')
      .done(function (reviews) {
        list.empty();
        reviews.forEach(function (item) { list.append(review(item)); });
        toggle.text('hide');
      });
  });

  search({});
  $('section.filters button').on('click', function () {
    search({
      amenities: Object.keys(amenities),
      states: Object.keys(states),
      cities: Object.keys(cities)
    });
  });
});
