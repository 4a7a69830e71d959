/* Identifiers typed in search are looked up as identifiers.
 *
 * The site's search (Material for MkDocs, lunr) splits a query at hyphens and dots and ORs the
 * parts, each with a trailing wildcard: "RWS-CACHE-1" became "rws* cache* 1*", which matches
 * RWS-CACHE-10 to -13 as well as every page that mentions a cache and a "1". A requirement ID
 * or a check id is a name, not a set of words: when the whole query has the shape of one,
 * every part is required and the last one counts most when it matches exactly, so the row of
 * that requirement or check (search entries added by conformance/docsgen/site_search.py)
 * comes first. Any other query goes to search unchanged.
 *
 * The query reaches Material's search worker as a message {type: 2, data: query} (its
 * SEARCH_QUERY); this script rewrites only that message. Should a later theme version change
 * the message, nothing is rewritten and search behaves as it does by default.
 */
(function () {
  "use strict";

  var SEARCH_QUERY = 2;
  var REQUIREMENT = /^\s*(rws)-([a-z]+)-(\d+)\s*$/i;
  var CHECK = /^\s*([a-z]+)\.([a-z0-9]+(?:-[a-z0-9]+)*)\s*$/i;
  // lunr's English stop words (its stopWordFilter): search drops them, so a stop word must
  // never be a required part ("cache.store-false-miss-on-other-connection").
  var STOP = new Set(("a able about across after all almost also am among an and any are as " +
    "at be because been but by can cannot could dear did do does either else ever every for " +
    "from get got had has have he her hers him his how however i if in into is it its just " +
    "least let like likely may me might most must my neither no nor not of off often on only " +
    "or other our own rather said say says she should since so some than that the their them " +
    "then there these they this tis to too twas us wants was we were what when where which " +
    "while who whom why will with would yet you your").split(" "));

  function parts(query) {
    var found = REQUIREMENT.exec(query);
    if (found) return [found[1], found[2], found[3]];
    found = CHECK.exec(query);
    if (found) return [found[1]].concat(found[2].split("-"));
    return null;
  }

  function rewrite(query) {
    var words = parts(query);
    if (!words) return query;
    words = words.map(function (w) { return w.toLowerCase(); });
    var last = words.pop();
    var terms = words.filter(function (w) { return !STOP.has(w); })
      .map(function (w) { return "+" + w; });
    if (!STOP.has(last)) terms.push("+" + last + "*", last + "^10");
    return terms.length ? terms.join(" ") : query;
  }

  var send = Worker.prototype.postMessage;
  Worker.prototype.postMessage = function (message) {
    if (message && message.type === SEARCH_QUERY && typeof message.data === "string") {
      var changed = Object.assign({}, message, { data: rewrite(message.data) });
      var rest = Array.prototype.slice.call(arguments, 1);
      return send.apply(this, [changed].concat(rest));
    }
    return send.apply(this, arguments);
  };
})();
