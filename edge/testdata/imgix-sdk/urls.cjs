// Builds image URLs with imgix's own JavaScript SDK (@imgix/js-core, pinned
// in package.json) for edge/sdk_test.go. Reads one JSON object on stdin:
//
//   {"domain": "127.0.0.1:8080", "token": "" or the secure URL token,
//    "requests": [{"path": "/a.jpg", "params": {...}, "srcset": false, "options": {...}}, ...]}
//
// and writes a JSON array with, for each request, the URLs the SDK built:
// one for buildURL, every entry of buildSrcSet's attribute (with its
// descriptor) for a srcset, and that attribute as the SDK wrote it.
'use strict';

const ImgixClient = require('@imgix/js-core');

let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => (input += chunk));
process.stdin.on('end', () => {
  const { domain, token, requests } = JSON.parse(input);
  // The SDK checks that the domain is a bare host name and refuses a port
  // (its DOMAIN_REGEX), so the client is made for a placeholder and given
  // the edge's 127.0.0.1:port after: buildURL reads settings.domain when
  // it builds each URL.
  const client = new ImgixClient({ domain: 'imgedge.test', useHTTPS: false, secureURLToken: token || null });
  client.settings.domain = domain;
  const out = requests.map((r) => {
    if (!r.srcset) {
      return { urls: [{ url: client.buildURL(r.path, r.params, r.options || {}) }] };
    }
    const attr = client.buildSrcSet(r.path, r.params, r.options || {});
    const urls = attr.split(',\n').map((entry) => {
      const i = entry.lastIndexOf(' ');
      return { url: entry.slice(0, i), descriptor: entry.slice(i + 1) };
    });
    return { srcset: attr, urls };
  });
  process.stdout.write(JSON.stringify(out));
});
