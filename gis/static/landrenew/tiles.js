/*
 * landrenew: a fast Mapbox Vector Tile decoder and a batched polygon painter for protomaps-leaflet.
 *
 * Used by gis/maps.py (the tiled parcel layer, see gis/tiles.py).  protomaps-leaflet 5.1 decodes every
 * vertex into a Point object and re-parses each feature's tags four times; at a district fit (10^5
 * parcels in view, ~7 * 10^5 vertices) that decode and its garbage collection took most of the time to
 * first paint.  This file keeps protomaps-leaflet for what it does well (the Leaflet grid layer, the
 * PMTiles reader with HTTP Range, the tile cache and abort on zoom) and replaces two parts:
 *
 *  - install(layer, opts): the PMTiles source's decoder.  A tile decodes into one Float32Array of the
 *    vertices and one Int32Array of ring starts; a feature keeps its id, bbox, the range of its rings,
 *    its opts.groupBy value (the style field, as f.group) and its properties, read on first use
 *    (f.props).  Features are grouped by f.group, so the painter fills runs of one colour.  feature.geom is empty: nothing else in the plugin reads it (no
 *    labels; the hover query is query() below).
 *  - rules(opts): two paint rules.  The first adds the rings of every shown feature to one canvas path
 *    per colour run; the second (on an empty pseudo-layer present in every decoded tile) fills the last
 *    run, because the plugin's painter has no "after" hook.  Same colour, opacity and outline as a
 *    per-feature PolygonSymbolizer; neighbours of one colour no longer show anti-aliasing seams.
 *
 * Standard MVT 2.1 (any layer, string/float/double/int/uint/sint/bool values, polygons; other geometry
 * types are decoded but not drawn).  No network access of its own.
 */
(function () {
  "use strict";
  var FLUSH = "__landrenew_flush";
  var EMPTY = [];
  var utf8 = new TextDecoder("utf-8");
  // features per canvas path: Chromium's path building slows down past a few hundred subpaths (measured:
  // 25,000 six-vertex rings in one path 6 s, in paths of 8-128 rings 20-50 ms, one path each 85-150 ms)
  var BATCH = 32;

  function text(b, start, n) {  // short ASCII strings (ids, codes) without the TextDecoder call overhead
    if (n > 48) { return utf8.decode(b.subarray(start, start + n)); }
    var s = "";
    for (var i = start; i < start + n; i++) {
      var c = b[i];
      if (c >= 0x80) { return utf8.decode(b.subarray(start, start + n)); }
      s += String.fromCharCode(c);
    }
    return s;
  }

  function varint(r) {
    var b = r.b, p = r.pos, c = b[p++], v = c & 0x7f;
    if (c >= 0x80) {
      c = b[p++]; v |= (c & 0x7f) << 7;
      if (c >= 0x80) {
        c = b[p++]; v |= (c & 0x7f) << 14;
        if (c >= 0x80) {
          c = b[p++]; v |= (c & 0x7f) << 21;
          if (c >= 0x80) {
            var m = 268435456;  // 2^28: beyond 28 bits, exact up to 2^53
            do { c = b[p++]; v += (c & 0x7f) * m; m *= 128; } while (c >= 0x80);
          }
        }
      }
    }
    r.pos = p;
    return v;
  }

  function skip(r, wire) {
    if (wire === 0) { varint(r); } else if (wire === 1) { r.pos += 8; } else if (wire === 2) {
      var n = varint(r); r.pos += n;
    } else if (wire === 5) { r.pos += 4; } else { throw new Error("MVT: unknown wire type " + wire); }
  }

  function readValue(r, end) {
    var v = null;
    while (r.pos < end) {
      var tag = varint(r), f = tag >> 3, w = tag & 7;
      if (f === 1 && w === 2) { var n = varint(r); v = text(r.b, r.pos, n); r.pos += n; }
      else if (f === 2 && w === 5) { v = r.view.getFloat32(r.pos, true); r.pos += 4; }
      else if (f === 3 && w === 1) { v = r.view.getFloat64(r.pos, true); r.pos += 8; }
      else if ((f === 4 || f === 5) && w === 0) { v = varint(r); }
      else if (f === 6 && w === 0) { var z = varint(r); v = z % 2 === 1 ? -(z + 1) / 2 : z / 2; }
      else if (f === 7 && w === 0) { v = varint(r) === 1; }
      else { skip(r, w); }
    }
    return v;
  }

  /* A decoded feature.  Its fields are read on first use (props): at a district fit most features are
   * painted and never hovered, so the 10^5 parcel ids of a tile are never turned into strings. */
  function Feature(layer, id, type, t0, t1, group) {
    this.id = id; this.geomType = type; this.geom = EMPTY; this.numVertices = 0; this.group = group;
    this.minX = 0; this.minY = 0; this.maxX = 0; this.maxY = 0; this.bbox = this;  // the painter reads f.bbox
    this.r0 = 0; this.r1 = 0; this.g = null; this._layer = layer; this._t0 = t0; this._t1 = t1; this._props = null;
  }
  Object.defineProperty(Feature.prototype, "props", {get: function () {
    if (this._props === null) {
      var L = this._layer, r = {b: L.b, pos: this._t0, view: L.view}, p = {};
      while (r.pos < this._t1) { var k = varint(r), v = varint(r); p[L.keys[k]] = L.value(v); }
      this._props = p;
    }
    return this._props;
  }});

  function readLayer(r, end, tileSize, groupBy) {
    var name = "", keys = [], vpos = [], extent = 4096, feats = [], geomBytes = 0;
    while (r.pos < end) {
      var tag = varint(r), f = tag >> 3, w = tag & 7;
      if (f === 1 && w === 2) { var n = varint(r); name = utf8.decode(r.b.subarray(r.pos, r.pos + n)); r.pos += n; }
      else if (f === 2 && w === 2) { var len = varint(r); feats.push(r.pos, r.pos + len); geomBytes += len; r.pos += len; }
      else if (f === 3 && w === 2) { var k = varint(r); keys.push(utf8.decode(r.b.subarray(r.pos, r.pos + k))); r.pos += k; }
      else if (f === 4 && w === 2) { var vl = varint(r); vpos.push(r.pos, r.pos + vl); r.pos += vl; }
      else if (f === 5 && w === 0) { extent = varint(r); }
      else { skip(r, w); }
    }
    var vals = new Array(vpos.length >> 1), seen = new Uint8Array(vpos.length >> 1);
    var layer = {b: r.b, view: r.view, keys: keys, value: function (i) {
      if (!seen[i]) { vals[i] = readValue({b: r.b, pos: vpos[2 * i], view: r.view}, vpos[2 * i + 1]); seen[i] = 1; }
      return vals[i];
    }};
    var groupKey = groupBy ? keys.indexOf(groupBy) : -1;
    var scale = tileSize / extent;
    // every coordinate is at least one byte of a feature message: geomBytes bounds the vertices
    var xy = new Float32Array(geomBytes + 2), rings = new Int32Array(Math.floor(geomBytes / 3) + 2);
    var np = 0, nr = 0, out = [], groups = new Map();
    for (var i = 0; i < feats.length; i += 2) {
      r.pos = feats[i];
      var fend = feats[i + 1], id = 0, type = 0, t0 = 0, t1 = 0, gv, g0 = -1, g1 = -1;
      while (r.pos < fend) {
        var t = varint(r), ff = t >> 3, ww = t & 7;
        if (ff === 1 && ww === 0) { id = varint(r); }
        else if (ff === 2 && ww === 2) {
          t1 = varint(r) + r.pos; t0 = r.pos;
          while (r.pos < t1) { var ki = varint(r), vi = varint(r); if (ki === groupKey) { gv = layer.value(vi); } }
        }
        else if (ff === 3 && ww === 0) { type = varint(r); }
        else if (ff === 4 && ww === 2) { var gl = varint(r); g0 = r.pos; g1 = r.pos + gl; r.pos = g1; }
        else { skip(r, ww); }
      }
      if (g0 < 0) { continue; }
      // geometry: MoveTo (1) starts a ring, LineTo (2) adds to it, ClosePath (7) ends it
      var r0 = nr, x = 0, y = 0, x1 = Infinity, y1 = Infinity, x2 = -Infinity, y2 = -Infinity, cmd = 0, cnt = 0;
      r.pos = g0;
      while (r.pos < g1) {
        if (cnt === 0) { var cl = varint(r); cmd = cl & 7; cnt = cl >> 3; if (cmd === 7) { cnt = 0; continue; } if (cnt === 0) { continue; } }
        cnt--;
        var dx = varint(r), dy = varint(r);
        x += (dx >>> 1) ^ -(dx & 1);
        y += (dy >>> 1) ^ -(dy & 1);
        if (cmd === 1) { rings[nr++] = np; }
        var px = x * scale, py = y * scale;
        xy[2 * np] = px; xy[2 * np + 1] = py; np++;
        if (px < x1) { x1 = px; } if (px > x2) { x2 = px; }
        if (py < y1) { y1 = py; } if (py > y2) { y2 = py; }
      }
      var feature = new Feature(layer, id, type, t0, t1, gv);
      feature.minX = x1; feature.minY = y1; feature.maxX = x2; feature.maxY = y2; feature.r0 = r0; feature.r1 = nr;
      if (groupKey >= 0) {
        var list = groups.get(gv);
        if (!list) { list = []; groups.set(gv, list); }
        list.push(feature);
      } else { out.push(feature); }
    }
    rings[nr] = np;
    var geom = {xy: xy.subarray(0, 2 * np), rings: rings.subarray(0, nr + 1)};
    if (groupKey >= 0) { groups.forEach(function (list) { for (var j = 0; j < list.length; j++) { out.push(list[j]); } }); }
    for (var q = 0; q < out.length; q++) {
      var fe = out[q]; fe.g = geom; fe.numVertices = geom.rings[fe.r1] - geom.rings[fe.r0];
    }
    return {name: name, features: out};
  }

  /** Decode one (decompressed) tile: Map of layer name -> features, plus the empty flush layer. */
  function parseTile(buffer, tileSize, groupBy) {
    var r = {b: new Uint8Array(buffer), pos: 0, view: new DataView(buffer)}, out = new Map(), end = r.b.length;
    while (r.pos < end) {
      var tag = varint(r), f = tag >> 3, w = tag & 7;
      if (f === 3 && w === 2) {
        var len = varint(r), e = r.pos + len, layer = readLayer(r, e, tileSize, groupBy);
        out.set(layer.name, layer.features); r.pos = e;
      } else { skip(r, w); }
    }
    out.set(FLUSH, EMPTY);
    return out;
  }

  /** Replace the decoder of every PMTiles source of a protomaps-leaflet layer (before it is added). */
  function install(layer, opts) {
    layer.views.forEach(function (view) {
      var src = view.tileCache.source;
      if (!src || !src.p || typeof src.p.getZxy !== "function") { return; }
      src.get = function (c, tileSize) {
        if (src.shouldCancelZooms) {
          src.zoomaborts = src.zoomaborts.filter(function (za) {
            if (za.z !== c.z) { za.controller.abort(); return false; }
            return true;
          });
        }
        var controller = new AbortController();
        src.zoomaborts.push({z: c.z, controller: controller});
        return src.p.getZxy(c.z, c.x, c.y, controller.signal).then(function (res) {
          return res ? parseTile(res.data, tileSize, opts.groupBy) : new Map();
        });
      };
    });
  }

  /**
   * The paint rules of a polygon layer decoded by install(): opts.layer (MVT layer name), opts.filter(z, f),
   * opts.fill(z, f) (colour; features of one colour are consecutive), opts.width(z, f) (outline, 0 = none),
   * opts.stroke (outline colour), opts.opacity, opts.maxzoom (data zoom; the display zoom z draws data zoom
   * min(z - 1, maxzoom), scaled up past it).
   */
  function rules(opts) {
    var run = {open: false, colour: null, width: 0, n: 0};
    function flush(ctx) {
      if (!run.open) { return; }
      ctx.globalAlpha = opts.opacity; ctx.fillStyle = run.colour; ctx.fill();
      if (run.width) { ctx.strokeStyle = opts.stroke; ctx.lineWidth = run.width; ctx.stroke(); }
      run.open = false; run.colour = null;
    }
    var batch = {
      before: function () { run.open = false; run.colour = null; },
      draw: function (ctx, geom, z, f) {
        if (f.geomType !== 3 || !f.g) { return; }
        var colour = opts.fill(z, f), width = opts.width(z, f);
        if (!run.open || colour !== run.colour || width !== run.width || run.n >= BATCH) {
          flush(ctx); ctx.beginPath(); run.open = true; run.colour = colour; run.width = width; run.n = 0;
        }
        run.n++;
        var s = z - 1 > opts.maxzoom ? Math.pow(2, z - 1 - opts.maxzoom) : 1;
        var xy = f.g.xy, rs = f.g.rings;
        for (var k = f.r0; k < f.r1; k++) {
          var a = rs[k], b = rs[k + 1];
          ctx.moveTo(xy[2 * a] * s, xy[2 * a + 1] * s);
          for (var i = a + 1; i < b; i++) { ctx.lineTo(xy[2 * i] * s, xy[2 * i + 1] * s); }
          ctx.closePath();
        }
      }
    };
    var last = {before: function (ctx) { flush(ctx); }, draw: function () {}};
    return [
      {dataLayer: opts.layer, filter: opts.filter, symbolizer: batch},
      {dataLayer: FLUSH, symbolizer: last}
    ];
  }

  function inside(f, x, y) {  // even-odd over the feature's rings (holes and parts alike)
    var xy = f.g.xy, rs = f.g.rings, hit = false;
    for (var k = f.r0; k < f.r1; k++) {
      var a = rs[k], b = rs[k + 1];
      for (var i = a, j = b - 1; i < b; j = i++) {
        var xi = xy[2 * i], yi = xy[2 * i + 1], xj = xy[2 * j], yj = xy[2 * j + 1];
        if ((yi > y) !== (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi) { hit = !hit; }
      }
    }
    return hit;
  }

  /** The features under a point in the decoded tiles of the current zoom (for the tooltip). */
  function query(layer, map, latlng, layerName, maxzoom, accept) {
    var dz = Math.min(Math.round(map.getZoom()) - 1, maxzoom), found = [];
    if (dz < 0) { return found; }
    layer.views.forEach(function (view) {
      var size = view.tileCache.tileSize, n = Math.pow(2, dz) * size;
      var sin = Math.sin(Math.max(-85.0511, Math.min(85.0511, latlng.lat)) * Math.PI / 180);
      var x = (latlng.lng + 180) / 360 * n, y = (0.5 - Math.log((1 + sin) / (1 - sin)) / (4 * Math.PI)) * n;
      var tx = Math.floor(x / size), ty = Math.floor(y / size);
      var entry = view.tileCache.cache.get(tx + ":" + ty + ":" + dz), feats = entry && entry.data.get(layerName);
      if (!feats) { return; }
      var px = x - tx * size, py = y - ty * size;
      for (var i = 0; i < feats.length; i++) {
        var f = feats[i], bb = f.bbox;
        if (px < bb.minX || px > bb.maxX || py < bb.minY || py > bb.maxY || !f.g) { continue; }
        if ((!accept || accept(f)) && inside(f, px, py)) { found.push(f); }
      }
    });
    return found;
  }

  window.landrenewMVT = {install: install, rules: rules, query: query, parseTile: parseTile, FLUSH: FLUSH};
})();
