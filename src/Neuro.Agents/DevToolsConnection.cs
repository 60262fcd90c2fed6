using System.Collections.Concurrent;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Neuro.Agents;

/// <summary>A minimal Chrome DevTools Protocol client: JSON commands over one WebSocket, answers matched by id,
/// flattened target sessions. Events are not needed by the environment and are dropped.</summary>
public sealed class DevToolsConnection : IAsyncDisposable
{
    private readonly ClientWebSocket _socket = new();
    private readonly ConcurrentDictionary<int, TaskCompletionSource<JsonObject>> _pending = new();
    private readonly SemaphoreSlim _sendLock = new(1, 1);
    private readonly CancellationTokenSource _stop = new();
    private Task? _receiver;
    private int _nextId;

    public static async Task<DevToolsConnection> ConnectAsync(Uri browserEndpoint, CancellationToken cancellationToken)
    {
        var connection = new DevToolsConnection();
        connection._socket.Options.KeepAliveInterval = TimeSpan.Zero;
        await connection._socket.ConnectAsync(browserEndpoint, cancellationToken);
        connection._receiver = Task.Run(connection.ReceiveLoopAsync);
        return connection;
    }

    /// <summary>Sends a command and returns its <c>result</c>; a protocol error becomes an <see cref="InvalidOperationException"/>.</summary>
    public async Task<JsonObject> SendAsync(string method, object? parameters = null, string? sessionId = null, CancellationToken cancellationToken = default)
    {
        var id = Interlocked.Increment(ref _nextId);
        var answer = new TaskCompletionSource<JsonObject>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[id] = answer;
        var message = new JsonObject { ["id"] = id, ["method"] = method };
        if (parameters is not null)
        {
            message["params"] = JsonSerializer.SerializeToNode(parameters);
        }
        if (sessionId is not null)
        {
            message["sessionId"] = sessionId;
        }
        var bytes = Encoding.UTF8.GetBytes(message.ToJsonString());
        await _sendLock.WaitAsync(cancellationToken);
        try
        {
            await _socket.SendAsync(bytes, WebSocketMessageType.Text, endOfMessage: true, cancellationToken);
        }
        finally
        {
            _sendLock.Release();
        }
        await using var _ = cancellationToken.Register(() => answer.TrySetCanceled(cancellationToken));
        var reply = await answer.Task;
        if (reply["error"] is JsonObject error)
        {
            throw new InvalidOperationException($"DevTools {method} failed: {error["message"]}");
        }
        return reply["result"] as JsonObject ?? [];
    }

    private async Task ReceiveLoopAsync()
    {
        var buffer = new byte[1 << 16];
        using var message = new MemoryStream();
        try
        {
            while (!_stop.IsCancellationRequested && _socket.State == WebSocketState.Open)
            {
                var result = await _socket.ReceiveAsync(buffer, _stop.Token);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    break;
                }
                message.Write(buffer, 0, result.Count);
                if (!result.EndOfMessage)
                {
                    continue;
                }
                var node = JsonNode.Parse(message.GetBuffer().AsSpan(0, (int)message.Length)) as JsonObject;
                message.SetLength(0);
                if (node?["id"]?.GetValue<int>() is { } id && _pending.TryRemove(id, out var waiter))
                {
                    waiter.TrySetResult(node);
                }
            }
        }
        catch (Exception e) when (e is OperationCanceledException or WebSocketException)
        {
        }
        foreach (var waiter in _pending.Values)
        {
            waiter.TrySetException(new InvalidOperationException("the browser connection closed"));
        }
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        if (_socket.State == WebSocketState.Open)
        {
            try
            {
                await _socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(2));
            }
            catch (Exception e) when (e is WebSocketException or TimeoutException)
            {
            }
        }
        if (_receiver is not null)
        {
            await _receiver.WaitAsync(TimeSpan.FromSeconds(2)).ContinueWith(_ => { });
        }
        _socket.Dispose();
        _stop.Dispose();
        _sendLock.Dispose();
    }
}
