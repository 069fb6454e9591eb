/*
 * Loaded before bootstrap-italia.bundle.min.js. The page CSP has style-src 'self' (no inline styles):
 * the Video.js library bundled in Bootstrap Italia injects a <style class="vjs-styles-defaults">
 * element as soon as it is evaluated unless this flag is set, and the CSP would block it (with a
 * console error on every page). The portal shows no videos.
 *
 * window.__PUBLIC_PATH__ is deliberately not set: the bundle reads it only inside loadFonts(), which
 * the portal never calls (fonts come from css/fonts.css).
 */
window.VIDEOJS_NO_DYNAMIC_STYLE = true;
