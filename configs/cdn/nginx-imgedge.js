// Age and Cache-Status for nginx's answers from its cache, which replays the
// headers it stored as they were when the edge answered.

// freshness is the copy's age and remaining freshness in seconds, from the
// edge's X-Accel-Expires (the last second of the lifetime, which nginx obeys)
// and its s-maxage; null when the edge sent no expiry.
function freshness(r) {
    var expires = r.variables.upstream_http_x_accel_expires;
    var lifetime = /s-maxage=(\d+)/i.exec(r.variables.upstream_http_cache_control || '');
    if (!expires || expires.charAt(0) !== '@' || !lifetime) {
        return null;
    }
    var now = Math.floor(Date.now() / 1000);
    var end = parseInt(expires.substring(1), 10) + 1;
    return {age: Math.max(0, now - (end - parseInt(lifetime[1], 10))), ttl: end - now};
}

// age is the copy's current age (RFC 9111 4.2.3): the lifetime less what
// remains of it, else the Age the edge sent plus the time since it sent it.
function age(r) {
    var f = freshness(r);
    if (f) {
        return String(f.age);
    }
    var a = parseInt(r.variables.upstream_http_age, 10);
    if (!(a >= 0)) {
        a = 0;
    }
    var sent = Date.parse(r.variables.upstream_http_date);
    if (sent === sent) {
        a += Math.max(0, Math.floor((Date.now() - sent) / 1000));
    }
    return String(a);
}

// cacheStatus is this cache's member of Cache-Status (RFC 9211): a hit with
// the copy's remaining freshness (negative when stale), or how the request
// went forward.
function cacheStatus(r) {
    var f = freshness(r);
    var ttl = f ? '; ttl=' + f.ttl : '';
    switch (r.variables.upstream_cache_status) {
    case 'HIT':
        return 'nginx; hit' + ttl;
    case 'STALE':
        return 'nginx; hit' + ttl + '; detail=stale';
    case 'UPDATING':
        return 'nginx; hit' + ttl + '; detail=updating';
    case 'EXPIRED':
        return 'nginx; fwd=stale';
    case 'REVALIDATED':
        return 'nginx; fwd=stale; fwd-status=304';
    case 'BYPASS':
        return 'nginx; fwd=bypass';
    case 'MISS':
        return 'nginx; fwd=miss';
    }
    return 'nginx; fwd=uri-miss';
}

export default {age, cacheStatus};
