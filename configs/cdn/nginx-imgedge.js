// Age and Cache-Status for nginx's answers from its cache, which replays the
// headers it stored. The edge's Age and Date are as they were when it answered.

// age is the copy's current age (RFC 9111 4.2.3): the Age the edge sent plus
// the time since it sent it.
function age(r) {
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
    var ttl = '';
    var expires = r.variables.upstream_http_x_accel_expires;
    if (expires && expires.charAt(0) === '@') {
        ttl = '; ttl=' + (parseInt(expires.substring(1), 10) - Math.floor(Date.now() / 1000));
    }
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
