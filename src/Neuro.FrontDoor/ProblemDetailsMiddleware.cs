using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Neuro.Abstractions;

namespace Neuro.FrontDoor;

/// <summary>Gives every REST error under /api an RFC 9457 problem-details body that names the field at fault.
/// JSON transcoding writes errors as google.rpc.Status; this catches those bodies before they leave and rewrites them.</summary>
internal sealed class ProblemDetailsMiddleware(RequestDelegate next)
{
    // Problem details are served as application/problem+json, never into HTML, so quotes need no escaping.
    private static readonly JsonSerializerOptions Json = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public async Task InvokeAsync(HttpContext context)
    {
        if (!context.Request.Path.StartsWithSegments("/api") || IsGrpc(context.Request))
        {
            await next(context);
            return;
        }
        var limit = context.Features.Get<IHttpMaxRequestBodySizeFeature>()?.MaxRequestBodySize;
        var tooLarge = new NeuroRequestException(NeuroErrorKind.InvalidArgument, "body", $"the request body is larger than the {limit} bytes allowed");
        if (context.Request.ContentLength > limit)
        {
            context.Items[NeuroErrorInterceptor.ItemKey] = tooLarge;
            await WriteProblemAsync(context, [], StatusCodes.Status413PayloadTooLarge);
            return;
        }
        if (limit is { } max && context.Request.ContentLength is null)
        {
            // Chunked bodies have no length up front; transcoding reports an over-long one as bad JSON, so spot it here.
            context.Request.Body = new LimitedBody(context.Request.Body, max, () => context.Items[TooLargeKey] = tooLarge);
        }
        var feature = context.Features.Get<IHttpResponseBodyFeature>()!;
        var capture = new ErrorCapturingBody(feature, context.Response);
        context.Features.Set<IHttpResponseBodyFeature>(capture);
        try
        {
            await next(context);
        }
        finally
        {
            await capture.FlushPendingAsync();
            context.Features.Set(feature);
        }
        if (context.Items[TooLargeKey] is NeuroRequestException overLimit)
        {
            context.Items[NeuroErrorInterceptor.ItemKey] = overLimit;
            await WriteProblemAsync(context, [], StatusCodes.Status413PayloadTooLarge);
        }
        else if (capture.Captured is { } body)
        {
            await WriteProblemAsync(context, body);
        }
        else if (context.Response.StatusCode >= 400 && !context.Response.HasStarted)
        {
            await WriteProblemAsync(context, []);
        }
    }

    private const string TooLargeKey = "neuro.too-large";

    private static bool IsGrpc(HttpRequest request) => request.ContentType?.StartsWith("application/grpc", StringComparison.Ordinal) == true;

    private static async Task WriteProblemAsync(HttpContext context, byte[] original, int? statusOverride = null)
    {
        int status = context.Response.StatusCode;
        string title;
        string detail;
        string? field = null;
        if (context.Items[NeuroErrorInterceptor.ItemKey] is NeuroRequestException e)
        {
            (_, status, title) = ErrorMapping.For(e.Kind);
            if (statusOverride is { } forced)
            {
                (status, title) = (forced, ReasonPhrase(forced));
            }
            detail = e.Message;
            field = e.Field;
        }
        else
        {
            title = ReasonPhrase(status);
            detail = TryReadRpcMessage(original, out var code, out var message) ? message : title;
            if (code is { } c)
            {
                status = ErrorMapping.HttpFor((Grpc.Core.StatusCode)c);
            }
            if (status == 400 && context.Request.HasJsonContentType())
            {
                field = "body"; // transcoding could not read the JSON body itself
            }
        }
        var problem = new Dictionary<string, object?>
        {
            ["type"] = $"https://neuro.dev/problems/{status}",
            ["title"] = title,
            ["status"] = status,
            ["detail"] = detail,
            ["instance"] = context.Request.Path.Value,
        };
        if (field is not null)
        {
            problem["field"] = field;
            problem["errors"] = new Dictionary<string, string[]> { [field] = [detail] };
        }
        // Keep the headers that tell a client what to do next (when to retry, how to authenticate).
        var retryAfter = context.Response.Headers.RetryAfter;
        var authenticate = context.Response.Headers.WWWAuthenticate;
        context.Response.Clear();
        context.Response.Headers.RetryAfter = retryAfter;
        context.Response.Headers.WWWAuthenticate = authenticate;
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/problem+json";
        await context.Response.WriteAsync(JsonSerializer.Serialize(problem, Json));
    }

    private static string ReasonPhrase(int status) => Microsoft.AspNetCore.WebUtilities.ReasonPhrases.GetReasonPhrase(status) is { Length: > 0 } p ? p : "Error";

    private static bool TryReadRpcMessage(byte[] body, out int? code, out string message)
    {
        code = null;
        message = "";
        if (body.Length == 0)
        {
            return false;
        }
        try
        {
            using var doc = JsonDocument.Parse(body);
            if (doc.RootElement.TryGetProperty("code", out var c) && c.TryGetInt32(out var ci))
            {
                code = ci;
            }
            if (doc.RootElement.TryGetProperty("message", out var m) && m.GetString() is { } s)
            {
                message = s;
                return true;
            }
        }
        catch (JsonException)
        {
        }
        return false;
    }

    /// <summary>Passes successful responses straight through; once the status is an error, holds the body back
    /// (and keeps headers unsent) so it can be replaced.</summary>
    private sealed class ErrorCapturingBody(IHttpResponseBodyFeature inner, HttpResponse response) : Stream, IHttpResponseBodyFeature
    {
        private MemoryStream? _buffer;
        private bool _decided;
        private System.IO.Pipelines.PipeWriter? _writer;

        public byte[]? Captured => _buffer?.ToArray();

        private bool Capturing
        {
            get
            {
                if (!_decided)
                {
                    _decided = true;
                    if (response.StatusCode >= 400)
                    {
                        _buffer = new MemoryStream();
                    }
                }
                return _buffer is not null;
            }
        }

        // Successful responses get the server's own stream and writer: no copy on the hot path.
        Stream IHttpResponseBodyFeature.Stream => Capturing ? this : inner.Stream;

        public System.IO.Pipelines.PipeWriter Writer => Capturing ? _writer ??= System.IO.Pipelines.PipeWriter.Create(this, new(leaveOpen: true)) : inner.Writer;

        public void DisableBuffering() => inner.DisableBuffering();

        public Task StartAsync(CancellationToken cancellationToken = default) => Capturing ? Task.CompletedTask : inner.StartAsync(cancellationToken);

        public Task SendFileAsync(string path, long offset, long? count, CancellationToken cancellationToken = default) =>
            inner.SendFileAsync(path, offset, count, cancellationToken);

        public async Task FlushPendingAsync()
        {
            if (_writer is not null)
            {
                await _writer.FlushAsync();
            }
        }

        public async Task CompleteAsync()
        {
            await FlushPendingAsync();
            if (!Capturing)
            {
                await inner.CompleteAsync();
            }
        }

        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override void Flush()
        {
        }

        public override Task FlushAsync(CancellationToken cancellationToken) => Capturing ? Task.CompletedTask : inner.Stream.FlushAsync(cancellationToken);

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (Capturing)
            {
                _buffer!.Write(buffer.Span);
                return ValueTask.CompletedTask;
            }
            return inner.Stream.WriteAsync(buffer, cancellationToken);
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
    }

    private sealed class LimitedBody(Stream inner, long limit, Action exceeded) : Stream
    {
        private long _read;

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => _read; set => throw new NotSupportedException(); }

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            try
            {
                return Count(await inner.ReadAsync(buffer, cancellationToken));
            }
            catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
            {
                exceeded(); // Kestrel's own limit fired first
                throw;
            }
        }

        private int Count(int n)
        {
            _read += n;
            if (_read > limit)
            {
                exceeded();
                throw new IOException($"request body exceeds {limit} bytes");
            }
            return n;
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
