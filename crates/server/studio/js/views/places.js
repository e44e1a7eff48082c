// Places: your saved locations, each with the populated place nearest to it (from
// the server's offline GeoNames gazetteer: a town or a district, never a street
// address), and a picker without a map: a place name with its candidates to
// choose from, or coordinates with the place they are nearest to. A chosen
// candidate is stored by its coordinates, so what is saved is what was shown.

import { del, get, post, query } from '../api.js';
import { append, clear, confirmDialog, field, h, setFieldError, toast } from '../dom.js';
import { t } from '../i18n.js';
import { describeError, humanTime } from '../words.js';

const PAGE = 100;
const CANDIDATES = 8;

const SOURCE_WORDS = {
  manual: t('from coordinates'),
  search: t('from a place name'),
  exif: t('from a photo\'s GPS'),
};

/** `Zurich, Zurich, Switzerland` (the parts that are there, once each). */
export function placeName(place) {
  const parts = [place.name, place.admin2, place.admin1, place.country_name].filter(Boolean);
  return parts.filter((part, index) => parts.indexOf(part) === index).join(', ');
}

function coordinatesText(latitude, longitude) {
  const lat = `${Math.abs(latitude).toFixed(4)}° ${latitude < 0 ? 'S' : 'N'}`;
  const lon = `${Math.abs(longitude).toFixed(4)}° ${longitude < 0 ? 'W' : 'E'}`;
  return `${lat}, ${lon}`;
}

function distanceText(km) {
  if (typeof km !== 'number') return '';
  return km < 1 ? t('{n} m away', { n: Math.round(km * 1000) }) : t('{n} km away', { n: km.toFixed(1) });
}

export async function placesView(main) {
  let stopped = false;

  /* The picker */
  const modes = [['name', t('By place name')], ['coordinates', t('By coordinates')]].map(([value, text]) => h('label', {},
    h('input', { type: 'radio', name: 'place-mode', value, checked: value === 'name' }), h('span', {}, text)));
  const search = h('input', { type: 'search', name: 'q', id: 'place-query', maxlength: 200, autocomplete: 'off', placeholder: 'Paris, FR' });
  const find = h('button', { class: 'btn', type: 'button', id: 'place-find' }, t('Find'));
  const candidates = h('fieldset', { class: 'choices', id: 'place-candidates', hidden: true }, h('legend', {}, t('Candidates')));
  const searchNote = h('p', { class: 'muted small', 'aria-live': 'polite', id: 'place-search-note' });
  const nameSection = h('div', { id: 'place-by-name' },
    h('div', { class: 'field' }, h('label', { for: search.id }, t('Place name')),
      h('div', { class: 'row' }, h('div', { class: 'grow' }, search), find),
      h('div', { class: 'hint', id: 'place-query-hint' }, t('A town or city, with a country or region after a comma if it helps: “Springfield, Illinois”.')),
      h('div', { class: 'error-text', id: 'place-query-error', hidden: true })),
    searchNote, candidates);
  search.setAttribute('aria-describedby', 'place-query-hint');

  const latitude = h('input', { type: 'number', name: 'latitude', id: 'place-latitude', min: -90, max: 90, step: 'any', inputmode: 'decimal', placeholder: '48.8566' });
  const longitude = h('input', { type: 'number', name: 'longitude', id: 'place-longitude', min: -180, max: 180, step: 'any', inputmode: 'decimal', placeholder: '2.3522' });
  const lookUp = h('button', { class: 'btn', type: 'button', id: 'place-look-up' }, t('Look up the nearest place'));
  const coordinatesSection = h('div', { id: 'place-by-coordinates', hidden: true },
    h('div', { class: 'fields-2' },
      field(t('Latitude'), latitude, t('Degrees north; negative south.')),
      field(t('Longitude'), longitude, t('Degrees east; negative west.'))),
    lookUp);

  // What will be saved, in words: the place and its coordinates.
  const resolved = h('div', { class: 'resolved-place', id: 'place-resolved', role: 'status', 'aria-live': 'polite' });
  const label = h('input', { type: 'text', name: 'label', id: 'place-label', maxlength: 200, autocomplete: 'off', placeholder: t('Home, the studio…') });
  const message = h('div', { class: 'error-box', role: 'alert', hidden: true });
  const save = h('button', { class: 'btn primary block', type: 'submit', id: 'place-save', disabled: true }, t('Save this place'));
  const form = h('form', { class: 'panel form', id: 'place-form', novalidate: true },
    h('h1', {}, t('Places')),
    h('p', { class: 'muted small' }, t('Save places by name or by coordinates. Each is shown with the nearest town or district (never a street address), from an offline list of places.')),
    h('fieldset', { class: 'segmented', id: 'place-mode' }, h('legend', { class: 'sr-only' }, t('Find a place')), modes),
    nameSection, coordinatesSection, resolved,
    field(t('Your name for it (optional)'), label),
    message, save,
    h('p', { class: 'muted small attribution' }, t('Place names: GeoNames (geonames.org), CC BY 4.0.')));

  /** The point to save, `{ latitude, longitude, place }`, once one is found. */
  let chosen = null;

  function choose(point) {
    chosen = point;
    save.disabled = !point;
    if (!point) {
      clear(resolved);
      return;
    }
    const { place } = point;
    append(clear(resolved), [
      h('strong', {}, placeName(place)),
      h('span', { class: 'muted small' }, ` · ${coordinatesText(point.latitude, point.longitude)}`),
      typeof place.distance_km === 'number' ? h('span', { class: 'muted small' }, ` · ${t('nearest place: {place}, {distance}', { place: place.name, distance: distanceText(place.distance_km) })}`) : null,
    ]);
  }

  function mode() {
    return form.querySelector('[name=place-mode]:checked').value;
  }
  form.querySelector('#place-mode').addEventListener('change', () => {
    nameSection.hidden = mode() !== 'name';
    coordinatesSection.hidden = mode() !== 'coordinates';
    message.hidden = true;
    choose(null);
  });

  async function findPlaces() {
    setFieldError(search, null);
    choose(null);
    const q = search.value.trim();
    if (!q) {
      setFieldError(search, t('Type a place name.'));
      search.focus();
      return;
    }
    searchNote.textContent = t('Looking…');
    candidates.hidden = true;
    try {
      const { places } = await get(`/places/search${query({ q, limit: CANDIDATES })}`);
      clear(candidates).append(h('legend', {}, t('Candidates')));
      if (!places.length) {
        searchNote.textContent = t('No place is called that. Check the spelling, or try the nearest town.');
        return;
      }
      searchNote.textContent = places.length === 1 ? t('1 place found.') : t('{n} places found: choose one.', { n: places.length });
      places.forEach((place, index) => {
        const radio = h('input', { type: 'radio', name: 'candidate', value: String(index), checked: index === 0 });
        // The first is the server's best: saved as the name searched (its source says so).
        const point = { latitude: place.latitude, longitude: place.longitude, place, query: index === 0 ? q : null };
        radio.addEventListener('change', () => choose(point));
        candidates.append(h('label', { class: 'choice', dataset: { candidate: place.name } }, radio,
          h('span', {}, h('strong', {}, placeName(place)), h('span', { class: 'muted small' }, coordinatesText(place.latitude, place.longitude)))));
      });
      candidates.hidden = false;
      choose({ latitude: places[0].latitude, longitude: places[0].longitude, place: places[0], query: q });
    } catch (error) {
      searchNote.textContent = '';
      if (error.code === 'validation_error') setFieldError(search, error.message);
      else toast(describeError(error), 'error');
    }
  }
  find.addEventListener('click', findPlaces);
  search.addEventListener('keydown', (event) => {
    if (event.key === 'Enter') {
      event.preventDefault();
      findPlaces();
    }
  });

  async function lookUpPlace() {
    setFieldError(latitude, null);
    setFieldError(longitude, null);
    choose(null);
    const lat = latitude.value === '' ? NaN : Number(latitude.value);
    const lon = longitude.value === '' ? NaN : Number(longitude.value);
    let ok = true;
    if (!(lat >= -90 && lat <= 90)) {
      setFieldError(latitude, t('A latitude is a number from -90 to 90.'));
      ok = false;
    }
    if (!(lon >= -180 && lon <= 180)) {
      setFieldError(longitude, t('A longitude is a number from -180 to 180.'));
      ok = false;
    }
    if (!ok) {
      form.querySelector('#place-by-coordinates [aria-invalid=true]').focus();
      return;
    }
    try {
      const place = await get(`/places/reverse${query({ latitude: lat, longitude: lon })}`);
      choose({ latitude: lat, longitude: lon, place });
    } catch (error) {
      const control = { latitude, longitude }[error.details && error.details.field];
      if (control) setFieldError(control, error.message);
      else toast(describeError(error), 'error');
    }
  }
  lookUp.addEventListener('click', lookUpPlace);

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    message.hidden = true;
    if (!chosen) return;
    save.disabled = true;
    try {
      const body = chosen.query ? { query: chosen.query } : { latitude: chosen.latitude, longitude: chosen.longitude };
      if (label.value.trim()) body.label = label.value.trim();
      const location = await post('/locations', body);
      toast(t('Saved.'), 'ok');
      label.value = '';
      await loadLocations();
      list.querySelector(`[data-location="${location.id}"]`)?.scrollIntoView({ block: 'nearest' });
    } catch (error) {
      message.textContent = describeError(error);
      message.hidden = false;
    } finally {
      save.disabled = !chosen;
    }
  });

  /* The list */
  const list = h('ul', { class: 'recent-jobs', id: 'places-list' });
  const listNote = h('p', { class: 'empty', 'aria-live': 'polite' }, t('Loading…'));

  function row(location) {
    const place = location.place;
    const name = location.label || place.name;
    return h('li', { class: 'recent-job place-row', dataset: { location: location.id } },
      h('span', { class: 'recent-thumb' }, h('span', { class: 'kind', 'aria-hidden': 'true' }, place.country_code)),
      h('span', { class: 'recent-meta' },
        h('span', { class: 'prompt' }, name),
        h('span', { class: 'small', dataset: { place: '' } }, `${placeName(place)}${place.distance_km ? ` · ${distanceText(place.distance_km)}` : ''}`),
        h('span', { class: 'muted small' }, [coordinatesText(location.latitude, location.longitude), SOURCE_WORDS[location.source] || location.source, humanTime(location.created_at)].join(' · '))),
      h('button', {
        class: 'btn small ghost', type: 'button', dataset: { action: 'delete-location' }, 'aria-label': t('Delete {name}', { name }),
        onclick: async () => {
          const sure = await confirmDialog({ title: t('Delete {name}?', { name }), text: t('The saved place is removed; nothing else changes.'), confirm: t('Delete'), danger: true });
          if (!sure) return;
          try {
            await del(`/locations/${location.id}`);
            toast(t('Deleted.'), 'ok');
            loadLocations();
          } catch (error) {
            toast(describeError(error), 'error');
          }
        },
      }, t('Delete')));
  }

  async function loadLocations() {
    try {
      const page = await get(`/locations${query({ limit: PAGE })}`);
      if (stopped) return;
      append(clear(list), page.locations.map(row));
      listNote.textContent = page.locations.length ? '' : t('No places saved yet.');
    } catch (error) {
      clear(listNote).append(h('span', { class: 'error-box' }, describeError(error)));
    }
  }

  main.append(h('div', { class: 'media-page places' }, form,
    h('section', { 'aria-labelledby': 'places-heading' }, h('h2', { id: 'places-heading' }, t('Your places')), listNote, list)));
  await loadLocations();
  return () => {
    stopped = true;
  };
}
