vcl 4.1;
# imgedge behind Varnish 7 (Debian: varnish, varnish-modules for xkey).
# Starts as it is: where the edge answers is in varnish-site.vcl, found on
# varnishd's vcl_path; where Varnish listens is its -a.

import std;
import xkey;

# A hung edge (frozen, or its renders stalled) is marked sick within about
# 3 s: two of three probes, 0.5 s apart, unanswered in 1 s. A shorter
# timeout marked an edge that was only busy (2 cores rendering under the
# race detector) sick, and its misses got 503s. While it is sick every copy
# within the edge's stale-if-error answers at once. OPTIONS * asks the edge
# about itself, never about an image (RFC 9110 9.3.7): 204 when it serves,
# 503 when it drains or its renders are stalled.
probe imgedge_alive {
    .request = "OPTIONS * HTTP/1.1" "Host: imgedge" "Connection: close";
    .expected_response = 204;
    .interval = 500ms;
    .timeout = 1s;
    .window = 3;
    .threshold = 2;
    .initial = 2;
}

include "varnish-site.vcl";

# Who may purge: the imgedge nodes (purge.downstream in their config).
acl purgers {
    "127.0.0.1";
    "::1";
}

sub vcl_recv {
    if (req.method == "PURGE") {
        if (client.ip !~ purgers) {
            return (synth(403, "Forbidden"));
        }
        if (!req.http.xkey) {
            return (synth(400, "PURGE needs an xkey header (imgedge's Surrogate-Key)"));
        }
        set req.http.n-gone = xkey.purge(req.http.xkey);
        return (synth(200, "Purged " + req.http.n-gone + " objects"));
    }
    if (req.method == "BAN") {
        if (client.ip !~ purgers) {
            return (synth(403, "Forbidden"));
        }
        if (!req.http.x-ban-url) {
            return (synth(400, "BAN needs an X-Ban-Url header (a regular expression)"));
        }
        ban("obj.http.x-url ~ " + req.http.x-ban-url);
        return (synth(200, "Banned"));
    }
    if (req.method != "GET" && req.method != "HEAD") {
        return (pass);
    }
    if (req.restarts == 0) {
        unset req.http.x-imgedge-failed;
        unset req.http.x-imgedge-refresh;
    }
    # Images do not depend on cookies or credentials; with them the built-in
    # VCL would not cache at all.
    unset req.http.Cookie;
    unset req.http.Authorization;
    # auto=format answers Vary: Accept. Four buckets keep four objects per
    # URL instead of one per browser's Accept string; q=0 means "not
    # accepted" (RFC 9110 12.4.2). JPEG XL has a bucket of its own for the
    # edge's flags.jxl; with that flag off it holds the AVIF bucket's bytes.
    if (req.http.Accept ~ "(?i)image/jxl(?=\s*[,;]|\s*$)(?!\s*;[^,]*q\s*=\s*0(\.0*)?\s*(,|;|$))" &&
        req.http.Accept ~ "(?i)image/avif(?=\s*[,;]|\s*$)(?!\s*;[^,]*q\s*=\s*0(\.0*)?\s*(,|;|$))" &&
        req.http.Accept ~ "(?i)image/webp(?=\s*[,;]|\s*$)(?!\s*;[^,]*q\s*=\s*0(\.0*)?\s*(,|;|$))") {
        set req.http.Accept = "image/jxl,image/avif,image/webp,*/*";
    } elsif (req.http.Accept ~ "(?i)image/avif(?=\s*[,;]|\s*$)(?!\s*;[^,]*q\s*=\s*0(\.0*)?\s*(,|;|$))" &&
        req.http.Accept ~ "(?i)image/webp(?=\s*[,;]|\s*$)(?!\s*;[^,]*q\s*=\s*0(\.0*)?\s*(,|;|$))") {
        set req.http.Accept = "image/avif,image/webp,*/*";
    } elsif (req.http.Accept ~ "(?i)image/webp(?=\s*[,;]|\s*$)(?!\s*;[^,]*q\s*=\s*0(\.0*)?\s*(,|;|$))") {
        set req.http.Accept = "image/webp,*/*";
    } else {
        set req.http.Accept = "*/*";
    }
    # ?w=120&fm=webp and ?fm=webp&w=120 are one object (imgedge's
    # cache.canonical_redirect also folds dpr and snapped sizes).
    set req.url = std.querysort(req.url);
    if (req.http.x-imgedge-failed || !std.healthy(req.backend_hint)) {
        # imgedge failed this request, or its probe: a stale copy within the
        # stale-if-error imgedge sent (the object's grace) answers instead.
        set req.grace = 3650d;
    } elsif (req.http.x-imgedge-refresh) {
        # vcl_hit found the copy past its stale-while-revalidate window:
        # looked up again without grace, it is refreshed (with If-None-Match)
        # before it answers, and stays for vcl_deliver's restart if that fails.
        set req.grace = 0s;
    }
    return (hash);
}

sub vcl_hit {
    # While imgedge answers, a copy past its lifetime is served (and
    # refreshed behind) only within its own stale-while-revalidate, which
    # the edge sets per object: past it, the request waits for a refresh.
    if (obj.ttl <= 0s && !req.http.x-imgedge-failed && std.healthy(req.backend_hint) &&
        obj.ttl + std.duration(obj.http.x-swr + "s", 0s) <= 0s) {
        set req.http.x-imgedge-refresh = "1";
        return (restart);
    }
}

sub vcl_backend_fetch {
    # Above the edge's own slowest answer at its limits (an origin fetch and
    # a render), below a browser's patience: a request caught by a hang is
    # answered from a stale copy (vcl_deliver restarts it) after 5 s at most.
    set bereq.connect_timeout = 1s;
    set bereq.first_byte_timeout = 5s;
    set bereq.between_bytes_timeout = 2s;
}

sub vcl_backend_error {
    # A failed refresh keeps the copy; a failed miss is not stored.
    if (bereq.is_bgfetch) {
        return (abandon);
    }
    set beresp.uncacheable = true;
    set beresp.ttl = 0s;
}

sub vcl_backend_response {
    # Bans match what the object holds, so that the ban lurker can apply them.
    set beresp.http.x-url = bereq.url;
    # imgedge's tags (one per source, one per origin) for xkey.purge.
    set beresp.http.xkey = beresp.http.Surrogate-Key;
    # Per-request headers must not be replayed to other clients.
    unset beresp.http.X-Request-Id;
    unset beresp.http.Server-Timing;
    if (beresp.status >= 500) {
        # Never let an error replace a good copy: a failed refresh is
        # dropped, a failed miss is not stored (vcl_deliver retries it
        # against the stale copy).
        if (bereq.is_bgfetch) {
            return (abandon);
        }
        set beresp.uncacheable = true;
        set beresp.ttl = 0s;
        return (deliver);
    }
    # The copy's own stale windows, as the edge sent them:
    # stale-while-revalidate (kept on the object for vcl_hit) and
    # stale-if-error, the grace it may stand in for a failing edge. Neither
    # (must-revalidate, cache.cdn_stale: false): no stale copy at all.
    set beresp.http.x-swr = "0";
    if (beresp.http.Cache-Control ~ "stale-while-revalidate=[0-9]+") {
        set beresp.http.x-swr = regsub(beresp.http.Cache-Control, "^.*stale-while-revalidate=([0-9]+).*$", "\1");
    }
    set beresp.grace = std.duration(beresp.http.x-swr + "s", 0s);
    if (beresp.http.Cache-Control ~ "stale-if-error=[0-9]+" &&
        std.duration(regsub(beresp.http.Cache-Control, "^.*stale-if-error=([0-9]+).*$", "\1") + "s", 0s) > beresp.grace) {
        set beresp.grace = std.duration(regsub(beresp.http.Cache-Control, "^.*stale-if-error=([0-9]+).*$", "\1") + "s", 0s);
    }
    # Kept past grace, a copy is refreshed with If-None-Match (a 304).
    set beresp.keep = 1h;
    # A copy the edge served past its lifetime while it refreshes (its Age
    # above its s-maxage) is kept for its stale windows, counted from its
    # expiry: the built-in VCL would turn it into two minutes of passes.
    if (beresp.ttl <= 0s && beresp.http.Cache-Control ~ "s-maxage=[1-9]" &&
        beresp.http.Cache-Control !~ "(?i)no-cache|no-store|private" && !beresp.http.Set-Cookie) {
        return (deliver);
    }
}

sub vcl_deliver {
    if (resp.status >= 500 && !req.http.x-imgedge-failed) {
        set req.http.x-imgedge-failed = "1";
        return (restart);
    }
    # This cache's member of Cache-Status (RFC 9211), after the edge's, which
    # describes the request that filled the copy.
    if (obj.hits > 0) {
        set req.http.x-cache-status = "varnish; hit; ttl=" + regsub(obj.ttl, "\.[0-9]*$", "");
        if (obj.ttl < 0s && (req.http.x-imgedge-failed || !std.healthy(req.backend_hint))) {
            set req.http.x-cache-status = req.http.x-cache-status + "; detail=stale-if-error";
        }
    } else {
        set req.http.x-cache-status = "varnish; fwd=miss";
    }
    if (resp.http.Cache-Status) {
        set resp.http.Cache-Status = resp.http.Cache-Status + ", " + req.http.x-cache-status;
    } else {
        set resp.http.Cache-Status = req.http.x-cache-status;
    }
    unset req.http.x-cache-status;
    unset resp.http.x-url;
    unset resp.http.x-swr;
    unset resp.http.xkey;
    unset resp.http.Surrogate-Key;
    unset resp.http.Cache-Tag;
    unset resp.http.X-Accel-Expires;
}
