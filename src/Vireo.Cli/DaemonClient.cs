using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Vireo.Api;

namespace Vireo.Cli;

/// <summary>A request body and its media type.</summary>
public sealed record Body(byte[] Data, string Type);

/// <summary>A failure to show the user as "error: MESSAGE" with exit code 1.</summary>
public sealed class CliException(string message) : Exception(message);

/// <summary>The CLI's side of the API: HTTP over the daemon's unix socket.</summary>
public sealed class DaemonClient : IDisposable
{
    public const string DefaultSocket = "/run/vireo/vireo.sock";
    /// <summary>The unix socket, or null for a TLS endpoint.</summary>
    public string? Socket => Endpoint.SocketPath;
    public DaemonEndpoint Endpoint { get; }

    /// <summary>The read-only socket's name, beside the main one in the run dir.</summary>
    public const string ReadOnlySocketName = "vireo-ro.sock";

    public DaemonClient(string? connect, bool readOnly = false, string? tlsDir = null)
    {
        connect ??= Environment.GetEnvironmentVariable("VIREO_CONNECT");
        Endpoint = DaemonEndpoint.Parse(connect ?? "unix:" + DefaultSocket, tlsDir);
        if (readOnly && Endpoint.SocketPath is { } main)
            Endpoint = new DaemonEndpoint(Path.Combine(Path.GetDirectoryName(main) ?? "/", ReadOnlySocketName));
    }

    public static string ParseConnect(string uri)
    {
        if (uri.StartsWith("unix:", StringComparison.Ordinal)) return uri[5..];
        if (uri.StartsWith('/')) return uri;
        throw new CliException($"Unsupported connection URI '{uri}'; use unix:/path/to/vireo.sock or tls://HOST:PORT.");
    }

    /// <summary>Sends one request; a non-2xx answer becomes a CliException with the daemon's message.</summary>
    public async Task<HttpReply> SendAsync(string method, string path, Body? body = null, CancellationToken ct = default)
    {
        var resp = await UnixHttp.SendAsync(Endpoint, method, path, body?.Data, body?.Type, ct);
        if (!resp.Ok)
        {
            var message = await ErrorText(resp, ct);
            resp.Dispose();
            throw new CliException(message);
        }
        return resp;
    }

    /// <summary>The message of a failed answer: the problem's detail (and its list of errors).</summary>
    public static async Task<string> ErrorText(HttpReply resp, CancellationToken ct)
    {
        var text = await resp.ReadStringAsync(ct);
        string message = text;
        try
        {
            var p = JsonSerializer.Deserialize(text, ApiJson.Default.ProblemInfo);
            if (p?.Detail is { } d) message = d;
            if (p?.Errors is { Length: > 1 } errs) message += "\n" + string.Join("\n", errs.Select(e => "  " + e));
        }
        catch (JsonException) { }
        return message.Length > 0 ? message : $"the daemon answered {resp.Status} {resp.ReasonPhrase}";
    }

    public async Task<T> JsonAsync<T>(string method, string path, JsonTypeInfo<T> type, Body? body = null, CancellationToken ct = default)
    {
        using var resp = await SendAsync(method, path, body, ct);
        return (await JsonSerializer.DeserializeAsync(resp.Body, type, ct))!;
    }

    public async Task<string> TextAsync(string method, string path, Body? body = null, CancellationToken ct = default)
    {
        using var resp = await SendAsync(method, path, body, ct);
        return await resp.ReadStringAsync(ct);
    }

    public async Task<DomainInfo> DomainAsync(string d, CancellationToken ct) =>
        DomainInfoTsv.Read((await TextAsync("GET", $"v1/domains/{E(d)}?format=tsv", null, ct)).TrimEnd('\n'));

    public async Task<DomainInfo[]> DomainsAsync(CancellationToken ct) =>
        DomainInfoTsv.ReadAll(await TextAsync("GET", "v1/domains?format=tsv", null, ct));

    public async Task<DomainInfo> ActAsync(string d, string verb, string query = "", CancellationToken ct = default) =>
        DomainInfoTsv.Read((await TextAsync("POST", $"v1/domains/{E(d)}/{verb}{(query.Length == 0 ? "?" : query + "&")}format=tsv", null, ct)).TrimEnd('\n'));

    public static string E(string s) => Uri.EscapeDataString(s);

    public static Body Xml(string xml) => new(Encoding.UTF8.GetBytes(xml), "application/xml");
    public static Body Json<T>(T value, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type) => new(System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(value, type), "application/json");

    public async Task<ClientWebSocket> WebSocketAsync(string path, CancellationToken ct)
    {
        var endpoint = Endpoint;
        var handler = new SocketsHttpHandler
        {
            UseProxy = false,
            // TLS, when there is, is the connection's own: the WebSocket above it is plain ws://.
            ConnectCallback = (_, _) => ValueTask.FromResult(endpoint.Connect()),
        };
        // A plain GET first: the daemon checks the console can be opened and answers with its
        // own message if not (a refused WebSocket upgrade carries no readable reason).
        (await SendAsync("GET", path, null, ct)).Dispose();
        var ws = new ClientWebSocket();
        try
        {
            await ws.ConnectAsync(new Uri("ws://vireo/" + path), new HttpMessageInvoker(handler), ct);
        }
        catch (WebSocketException e)
        {
            ws.Dispose();
            throw new CliException($"cannot open the console: {e.Message}");
        }
        return ws;
    }

    public void Dispose() { }
}
