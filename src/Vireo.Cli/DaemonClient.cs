using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Vireo.Api;

namespace Vireo.Cli;

/// <summary>A failure to show the user as "error: MESSAGE" with exit code 1.</summary>
public sealed class CliException(string message) : Exception(message);

/// <summary>The CLI's side of the API: HTTP over the daemon's unix socket.</summary>
public sealed class DaemonClient : IDisposable
{
    public const string DefaultSocket = "/run/vireo/vireo.sock";
    private readonly HttpClient _http;
    private readonly SocketsHttpHandler _handler;
    public string Socket { get; }

    public DaemonClient(string? connect)
    {
        connect ??= Environment.GetEnvironmentVariable("VIREO_CONNECT");
        Socket = ParseConnect(connect ?? "unix:" + DefaultSocket);
        var path = Socket;
        _handler = new SocketsHttpHandler
        {
            UseProxy = false,
            ConnectCallback = async (_, ct) =>
            {
                var s = new System.Net.Sockets.Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                try
                {
                    await s.ConnectAsync(new UnixDomainSocketEndPoint(path), ct);
                    return new NetworkStream(s, ownsSocket: true);
                }
                catch (SocketException e)
                {
                    s.Dispose();
                    throw new CliException($"failed to connect to the daemon at unix:{path}: {e.Message}. Start it with './vireo daemon', or point --connect / VIREO_CONNECT at its socket.");
                }
            },
        };
        _http = new HttpClient(_handler) { BaseAddress = new Uri("http://vireo/"), Timeout = Timeout.InfiniteTimeSpan };
    }

    public static string ParseConnect(string uri)
    {
        if (uri.StartsWith("unix:", StringComparison.Ordinal)) return uri[5..];
        if (uri.StartsWith('/')) return uri;
        throw new CliException($"Unsupported connection URI '{uri}'; use unix:/path/to/vireo.sock.");
    }

    public async Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, HttpContent? body = null, CancellationToken ct = default,
        HttpCompletionOption completion = HttpCompletionOption.ResponseContentRead)
    {
        using var req = new HttpRequestMessage(method, path) { Content = body };
        HttpResponseMessage resp;
        try
        {
            resp = await _http.SendAsync(req, completion, ct);
        }
        catch (HttpRequestException e) when (e.InnerException is CliException ce)
        {
            throw ce;
        }
        catch (HttpRequestException e)
        {
            throw new CliException($"the daemon at unix:{Socket} did not answer: {e.Message}");
        }
        if (!resp.IsSuccessStatusCode)
        {
            var text = await resp.Content.ReadAsStringAsync(ct);
            resp.Dispose();
            string message = text;
            try
            {
                var p = JsonSerializer.Deserialize(text, ApiJson.Default.ProblemInfo);
                if (p?.Detail is { } d) message = d;
                if (p?.Errors is { Length: > 1 } errs) message += "\n" + string.Join("\n", errs.Select(e => "  " + e));
            }
            catch (JsonException) { }
            throw new CliException(message.Length > 0 ? message : $"the daemon answered {(int)resp.StatusCode} {resp.ReasonPhrase}");
        }
        return resp;
    }

    public async Task<T> JsonAsync<T>(HttpMethod method, string path, JsonTypeInfo<T> type, HttpContent? body = null, CancellationToken ct = default)
    {
        using var resp = await SendAsync(method, path, body, ct);
        await using var s = await resp.Content.ReadAsStreamAsync(ct);
        return (await JsonSerializer.DeserializeAsync(s, type, ct))!;
    }

    public async Task<string> TextAsync(HttpMethod method, string path, HttpContent? body = null, CancellationToken ct = default)
    {
        using var resp = await SendAsync(method, path, body, ct);
        return await resp.Content.ReadAsStringAsync(ct);
    }

    public Task<DomainInfo> DomainAsync(string d, CancellationToken ct) => JsonAsync(HttpMethod.Get, $"v1/domains/{E(d)}", ApiJson.Default.DomainInfo, ct: ct);

    public Task<DomainInfo> ActAsync(string d, string verb, string query = "", CancellationToken ct = default) =>
        JsonAsync(HttpMethod.Post, $"v1/domains/{E(d)}/{verb}{query}", ApiJson.Default.DomainInfo, ct: ct);

    public static string E(string s) => Uri.EscapeDataString(s);

    public static StringContent Xml(string xml) => new(xml, Encoding.UTF8, new MediaTypeHeaderValue("application/xml"));

    public async Task<ClientWebSocket> WebSocketAsync(string path, CancellationToken ct)
    {
        var ws = new ClientWebSocket();
        try
        {
            await ws.ConnectAsync(new Uri("ws://vireo/" + path), new HttpMessageInvoker(_handler, disposeHandler: false), ct);
        }
        catch (WebSocketException e)
        {
            // The daemon refuses with a problem document; ask again over plain HTTP for its message.
            ws.Dispose();
            using var resp = await SendAsync(HttpMethod.Get, path, null, ct);
            throw new CliException($"cannot open the console: {e.Message}");
        }
        return ws;
    }

    public void Dispose() => _http.Dispose();
}
