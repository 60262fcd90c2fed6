using Grpc.Core;
using Grpc.Core.Interceptors;
using Microsoft.AspNetCore.Http;
using Neuro.Abstractions;
using Orleans.Runtime;

namespace Neuro.FrontDoor;

/// <summary>One mapping from a refusal to what each API face shows: gRPC status code and HTTP status.</summary>
public static class ErrorMapping
{
    public static (StatusCode Grpc, int Http, string Title) For(NeuroErrorKind kind) => kind switch
    {
        NeuroErrorKind.InvalidArgument => (StatusCode.InvalidArgument, StatusCodes.Status400BadRequest, "Invalid argument"),
        NeuroErrorKind.NotFound => (StatusCode.NotFound, StatusCodes.Status404NotFound, "Not found"),
        NeuroErrorKind.Conflict => (StatusCode.FailedPrecondition, StatusCodes.Status409Conflict, "Conflict"),
        NeuroErrorKind.ResourceExhausted => (StatusCode.ResourceExhausted, StatusCodes.Status429TooManyRequests, "Too many requests"),
        _ => (StatusCode.Unavailable, StatusCodes.Status503ServiceUnavailable, "Unavailable"),
    };

    /// <summary>HTTP status for a gRPC status code that did not come from one of our refusals (e.g. transcoding's own
    /// "bad JSON" errors), following google.rpc's HTTP mapping.</summary>
    public static int HttpFor(StatusCode code) => code switch
    {
        StatusCode.InvalidArgument or StatusCode.OutOfRange or StatusCode.FailedPrecondition => 400,
        StatusCode.Unauthenticated => 401,
        StatusCode.PermissionDenied => 403,
        StatusCode.NotFound => 404,
        StatusCode.AlreadyExists or StatusCode.Aborted => 409,
        StatusCode.ResourceExhausted => 429,
        StatusCode.Cancelled => 499,
        StatusCode.Unimplemented => 501,
        StatusCode.Unavailable => 503,
        StatusCode.DeadlineExceeded => 504,
        _ => 500,
    };
}

/// <summary>Turns <see cref="NeuroRequestException"/> (from our code or from a grain on another silo) into a gRPC status
/// with the field named in trailers, and remembers it for the REST problem-details writer.</summary>
internal sealed class NeuroErrorInterceptor : Interceptor
{
    internal const string FieldTrailer = "neuro-field";
    internal const string ItemKey = "neuro.error";

    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(
        TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            return await continuation(request, context);
        }
        catch (NeuroRequestException e)
        {
            throw Map(e, context);
        }
        catch (TimeoutException e)
        {
            throw Map(new NeuroRequestException(NeuroErrorKind.Unavailable, null, $"the cluster did not answer in time: {e.Message}"), context);
        }
        catch (OrleansMessageRejectionException e)
        {
            throw Map(new NeuroRequestException(NeuroErrorKind.Unavailable, null, $"the cluster refused the call: {e.Message}"), context);
        }
    }

    public override async Task ServerStreamingServerHandler<TRequest, TResponse>(
        TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            await continuation(request, responseStream, context);
        }
        catch (NeuroRequestException e)
        {
            throw Map(e, context);
        }
        catch (OperationCanceledException) when (context.CancellationToken.IsCancellationRequested)
        {
            throw new RpcException(new Status(StatusCode.Cancelled, "the caller cancelled"));
        }
    }

    internal static RpcException Map(NeuroRequestException e, ServerCallContext context)
    {
        context.GetHttpContext().Items[ItemKey] = e;
        if (e.RetryAfterSeconds is { } wait)
        {
            context.GetHttpContext().Response.Headers.RetryAfter = wait.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
        var trailers = new Metadata();
        if (e.Field is not null)
        {
            trailers.Add(FieldTrailer, e.Field);
        }
        var detail = e.Field is null ? e.Message : $"{e.Field}: {e.Message}";
        return new RpcException(new Status(ErrorMapping.For(e.Kind).Grpc, detail), trailers);
    }
}
