/* 100-hbnb: 4-hbnb, plus state and city checkboxes: their names go into div.locations h4 and
   Search sends {amenities, states, cities}. */
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
    return $('<article>').append(
      $('<div class="title_box">').append(
        $('<h2>').text(place.name),
        $('<div class="price_by_night">').text('$' + place.price_by_night)),
      $('<div class="information">').append(
        $('<div class="max_guest">').text(plural(place.max_guest, 'Guest')),
        $('<div class="number_rooms">').text(plural(place.number_rooms, 'Bedroom')),
        $('<div class="number_bathrooms">').text(plural(place.number_bathrooms, 'Bathroom'))),
      $('<div class="description">').text(place.description || ''));
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

  search({});
  $('section.filters button').on('click', function () {
    search({
      amenities: Object.keys(amenities),
      states: Object.keys(states),
      cities: Object.keys(cities)
    });
  });
});
