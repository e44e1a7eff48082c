// The 3D viewer: a GLB drawn with three.js on a canvas, to turn (drag), zoom (wheel
// or pinch), move (right-drag or two fingers) and light (two sliders), with buttons
// and keys that do the same from the keyboard. three.js is bundled in
// vendor/three-viewer.js (scripts/vendor-three) and imported only when a model is
// shown, so the pages without one never download it.

import { h } from './dom.js';
import { locale, t } from './i18n.js';

/** How far one press of a turn button or arrow key turns (radians) or zooms. */
const TURN_STEP = Math.PI / 12;
const ZOOM_STEP = 0.8;
/** The camera looks at the model from the front, a little from the right and above. */
const VIEW_DIRECTION = [0.55, 0.42, 1];
/** The key light's height above the ground (degrees); the slider sets its direction. */
const LIGHT_ELEVATION = 50;

let three = null;

/** The bundle, imported once; a failed import can be tried again. */
function loadThree() {
  three ??= import('../vendor/three-viewer.js').catch((error) => {
    three = null;
    throw error;
  });
  return three;
}

/** An error whose message is already a sentence for the user. */
class ViewerError extends Error {}

/**
 * Shows the GLB at `glbUrl` in `container`. `label` names the model for screen
 * readers. Returns a cleanup function that stops drawing and frees the WebGL
 * context (browsers allow only a few at once). Failures (no WebGL, a file that does
 * not load) are shown in the viewer, never thrown.
 */
export function mountViewer(container, glbUrl, { label } = {}) {
  const name = label || t('Generated 3D model');
  const hintId = `viewer-hint-${Math.random().toString(36).slice(2, 9)}`;
  const canvas = h('canvas', {
    class: 'viewer-canvas', role: 'img', tabindex: 0, 'aria-label': t('{name}: loading the 3D model…', { name }), 'aria-describedby': hintId,
  });
  const status = h('p', { class: 'viewer-status', role: 'status' }, t('Loading the 3D model…'));
  const stage = h('div', { class: 'viewer-stage' }, canvas, status);
  // An icon button is named by its title; a button with words, by its words.
  const tool = (text, action, { title, ...extra } = {}) => h('button', {
    class: 'btn small', type: 'button', title, 'aria-label': title, disabled: true, dataset: { viewer: action }, ...extra,
  }, text);
  const buttons = {
    left: tool('↺', 'turn-left', { title: t('Turn left') }),
    right: tool('↻', 'turn-right', { title: t('Turn right') }),
    zoomIn: tool('+', 'zoom-in', { title: t('Zoom in') }),
    zoomOut: tool('−', 'zoom-out', { title: t('Zoom out') }),
    reset: tool(t('Reset view'), 'reset'),
    spin: tool(t('Spin'), 'spin', { 'aria-pressed': 'false' }),
  };
  const direction = h('input', { type: 'range', min: 0, max: 359, step: 1, value: 45, disabled: true, name: 'light-direction', dataset: { viewer: 'light-direction' } });
  const strength = h('input', { type: 'range', min: 0, max: 4, step: 0.1, value: 2, disabled: true, name: 'light-strength', dataset: { viewer: 'light-strength' } });
  const slider = (text, input) => h('label', { class: 'viewer-slider' }, h('span', {}, text), input);
  const tools = h('div', { class: 'viewer-tools', role: 'toolbar', 'aria-label': t('3D view controls') },
    h('div', { class: 'viewer-buttons' }, Object.values(buttons)),
    h('div', { class: 'viewer-lights' }, slider(t('Light direction'), direction), slider(t('Light strength'), strength)));
  const hint = h('figcaption', { class: 'viewer-hint muted small', id: hintId },
    t('Drag to turn the model, scroll or pinch to zoom, right-drag or drag with two fingers to move it. On the keyboard, the arrow keys turn it and + and − zoom.'));
  const figure = h('figure', { class: 'viewer3d', dataset: { state: 'loading' } }, stage, tools, hint);
  container.append(figure);

  let disposed = false;
  let release = () => {};

  function fail(message) {
    if (disposed) return;
    release();
    figure.dataset.state = 'error';
    canvas.hidden = true;
    tools.hidden = true;
    hint.hidden = true;
    status.className = 'viewer-status error-box';
    status.setAttribute('role', 'alert');
    status.textContent = message;
    status.hidden = false;
  }

  start().catch((error) => fail(error instanceof ViewerError ? error.message
    : t('The 3D model could not be shown. Download it to open it in a 3D viewer.')));

  async function start() {
    // The renderer's context is asked for here, so that a browser without WebGL 2
    // (which three.js needs) gets a sentence, not three.js's console error.
    const gl = canvas.getContext('webgl2', { antialias: true, alpha: true, preserveDrawingBuffer: true });
    if (!gl) throw new ViewerError(t('This browser cannot draw 3D here (WebGL 2 is off or missing). Download the model to open it in a 3D viewer.'));
    // Until the renderer holds it (and frees it), the context is freed here.
    release = () => {
      release = () => {};
      gl.getExtension('WEBGL_lose_context')?.loseContext();
    };
    let THREE;
    try {
      THREE = await loadThree();
    } catch {
      throw new ViewerError(t('The 3D viewer could not be loaded. Check your connection and open the model again.'));
    }
    if (disposed) return;
    const scene = new THREE.Scene();
    let model;
    try {
      model = (await loadGlb(THREE, glbUrl)).scene;
    } catch {
      throw new ViewerError(t('The 3D model could not be read. Download it to open it in a 3D viewer.'));
    }
    if (disposed) {
      disposeScene(model);
      return;
    }
    scene.add(model);
    const box = new THREE.Box3().setFromObject(model);
    if (box.isEmpty()) throw new ViewerError(t('The 3D model is empty: it has nothing to show.'));
    show(THREE, gl, scene, model, box);
  }

  function show(THREE, gl, scene, model, box) {
    const renderer = new THREE.WebGLRenderer({ canvas, context: gl, antialias: true, alpha: true, preserveDrawingBuffer: true });
    renderer.outputColorSpace = THREE.SRGBColorSpace;
    renderer.toneMapping = THREE.NeutralToneMapping;
    renderer.setPixelRatio(Math.min(window.devicePixelRatio || 1, 2));
    renderer.setClearColor(0x000000, 0);
    // Drawn only when the view changed: an idle model costs no GPU time.
    let dirty = true;
    let frame = 0;

    const center = box.getCenter(new THREE.Vector3());
    const radius = Math.max(box.getSize(new THREE.Vector3()).length() / 2, 1e-6);
    const camera = new THREE.PerspectiveCamera(40, 1, radius / 100, radius * 100);
    const sky = new THREE.HemisphereLight(0xffffff, 0x8a8a96, 1.1);
    const key = new THREE.DirectionalLight(0xffffff, Number(strength.value));
    key.target.position.copy(center);
    scene.add(sky, key, key.target);

    let grid = null;
    function drawGrid() {
      if (grid) {
        scene.remove(grid);
        grid.geometry.dispose();
        grid.material.dispose();
      }
      // The theme's own line colours, so the floor reads in light and dark.
      const style = getComputedStyle(figure);
      grid = new THREE.GridHelper(radius * 4, 16, style.getPropertyValue('--muted').trim() || '#888',
        style.getPropertyValue('--border').trim() || '#ccc');
      grid.position.set(center.x, box.min.y, center.z);
      scene.add(grid);
      dirty = true;
    }

    const controls = new THREE.OrbitControls(camera, canvas);
    controls.enableDamping = true;
    controls.minDistance = radius * 0.25;
    controls.maxDistance = radius * 10;
    controls.autoRotateSpeed = 1.5;
    controls.addEventListener('change', () => { dirty = true; });

    const offset = new THREE.Vector3();
    const spherical = new THREE.Spherical();

    /** Back to the first view: the whole model in the frame, whatever the canvas's shape. */
    function fit() {
      const half = (camera.fov * Math.PI) / 360;
      // On a narrow (portrait) canvas the width is what must hold the model.
      const narrowest = Math.min(half, Math.atan(Math.tan(half) * camera.aspect));
      const distance = (radius / Math.sin(narrowest)) * 1.05;
      controls.target.copy(center);
      camera.position.copy(center).add(offset.set(...VIEW_DIRECTION).normalize().multiplyScalar(distance));
      camera.lookAt(center);
      controls.update();
      dirty = true;
    }

    function turn(dTheta, dPhi = 0) {
      offset.copy(camera.position).sub(controls.target);
      spherical.setFromVector3(offset);
      spherical.theta += dTheta;
      spherical.phi = Math.min(Math.PI - 0.05, Math.max(0.05, spherical.phi + dPhi));
      camera.position.copy(controls.target).add(offset.setFromSpherical(spherical));
      camera.lookAt(controls.target);
      controls.update();
      dirty = true;
    }

    function zoom(factor) {
      offset.copy(camera.position).sub(controls.target);
      const distance = Math.min(controls.maxDistance, Math.max(controls.minDistance, offset.length() * factor));
      camera.position.copy(controls.target).add(offset.setLength(distance));
      controls.update();
      dirty = true;
    }

    function light() {
      const azimuth = (Number(direction.value) * Math.PI) / 180;
      const elevation = (LIGHT_ELEVATION * Math.PI) / 180;
      key.position.set(Math.sin(azimuth) * Math.cos(elevation), Math.sin(elevation), Math.cos(azimuth) * Math.cos(elevation))
        .multiplyScalar(radius * 4).add(center);
      key.intensity = Number(strength.value);
      direction.setAttribute('aria-valuetext', `${direction.value}°`);
      strength.setAttribute('aria-valuetext', Number(strength.value).toLocaleString(locale));
      dirty = true;
    }

    function spin(on) {
      controls.autoRotate = on;
      buttons.spin.setAttribute('aria-pressed', on ? 'true' : 'false');
      buttons.spin.classList.toggle('primary', on);
    }

    function loop() {
      frame = requestAnimationFrame(loop);
      // update() says whether the view moved (damping, spinning).
      if (controls.update() || dirty) {
        renderer.render(scene, camera);
        dirty = false;
      }
    }

    // The first view is framed at the canvas's first real size (a hidden stage has none).
    let sized = false;
    function resize() {
      const width = stage.clientWidth;
      const height = stage.clientHeight;
      if (!width || !height) return;
      renderer.setSize(width, height, false);
      camera.aspect = width / height;
      camera.updateProjectionMatrix();
      if (!sized) fit();
      sized = true;
      dirty = true;
    }
    const sizes = new ResizeObserver(resize);
    sizes.observe(stage);
    const theme = new MutationObserver(drawGrid);
    theme.observe(document.documentElement, { attributes: true, attributeFilter: ['data-theme'] });

    const onKey = (event) => {
      const keys = {
        ArrowLeft: () => turn(TURN_STEP), ArrowRight: () => turn(-TURN_STEP),
        ArrowUp: () => turn(0, -TURN_STEP), ArrowDown: () => turn(0, TURN_STEP),
        '+': () => zoom(ZOOM_STEP), '=': () => zoom(ZOOM_STEP), '-': () => zoom(1 / ZOOM_STEP), Home: fit,
      };
      const action = keys[event.key];
      if (!action) return;
      // The lightbox moves to the next output on ←/→: not while the model has the keys.
      event.preventDefault();
      event.stopPropagation();
      action();
    };
    canvas.addEventListener('keydown', onKey);
    const onLost = () => fail(t('The 3D view stopped because the graphics device was reset. Open the model again to see it.'));
    canvas.addEventListener('webglcontextlost', onLost);

    buttons.left.addEventListener('click', () => turn(TURN_STEP));
    buttons.right.addEventListener('click', () => turn(-TURN_STEP));
    buttons.zoomIn.addEventListener('click', () => zoom(ZOOM_STEP));
    buttons.zoomOut.addEventListener('click', () => zoom(1 / ZOOM_STEP));
    buttons.reset.addEventListener('click', fit);
    buttons.spin.addEventListener('click', () => spin(!controls.autoRotate));
    direction.addEventListener('input', light);
    strength.addEventListener('input', light);

    release = () => {
      release = () => {};
      cancelAnimationFrame(frame);
      sizes.disconnect();
      theme.disconnect();
      canvas.removeEventListener('keydown', onKey);
      canvas.removeEventListener('webglcontextlost', onLost);
      controls.dispose();
      disposeScene(scene);
      renderer.dispose();
      // The context itself, now: waiting for the garbage collector would keep it
      // counting against the browser's few while the next model opens.
      renderer.forceContextLoss();
    };

    drawGrid();
    light();
    resize();
    if (!sized) fit();
    const triangles = countTriangles(model);
    canvas.setAttribute('aria-label', t('{name}: a 3D model of {n} triangles.', { name, n: triangles.toLocaleString(locale) }));
    figure.dataset.triangles = String(triangles);
    for (const control of [...Object.values(buttons), direction, strength]) control.disabled = false;
    status.hidden = true;
    loop();
    figure.dataset.state = 'ready';
  }

  return () => {
    disposed = true;
    release();
    figure.remove();
  };
}

/**
 * Reads a GLB. three.js reads the pictures inside it through `blob:` URLs; its
 * usual loader for them fetch()es those, which the studio's Content-Security-Policy
 * (connect-src 'self') refuses. An image element may show `blob:` URLs (img-src),
 * so the parser is given TextureLoader, which uses one.
 */
function loadGlb(THREE, url) {
  const loader = new THREE.GLTFLoader();
  loader.register((parser) => {
    parser.textureLoader = new THREE.TextureLoader(parser.options.manager);
    parser.textureLoader.setCrossOrigin(parser.options.crossOrigin);
    return { name: 'atelier_textures_through_img' };
  });
  return loader.loadAsync(url);
}

function countTriangles(root) {
  let triangles = 0;
  root.traverse((node) => {
    const geometry = node.isMesh ? node.geometry : null;
    if (!geometry) return;
    const vertices = geometry.index ? geometry.index.count : geometry.attributes.position?.count || 0;
    triangles += Math.floor(vertices / 3);
  });
  return triangles;
}

/** Frees what the GPU holds for `root`'s meshes: geometries, materials, textures. */
function disposeScene(root) {
  root.traverse((node) => {
    node.geometry?.dispose();
    for (const material of [].concat(node.material || [])) {
      for (const value of Object.values(material)) {
        if (value && value.isTexture) value.dispose();
      }
      material.dispose();
    }
  });
}
