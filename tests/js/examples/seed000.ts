// Seed 000's "Connection Example using JavaScript", as its document gives it (TypeScript annotations
// included). tests/realtime/test_phoenix_example.py runs it unchanged but for the endpoint, the token and
// the two ids, which it replaces by their literal text before running it (tests/js/run_example.mjs).
import { Socket } from "phoenix";
import WS from "ws";

const jwt_token = "eyJhbGciOiJSUzI1NiwsInR5cCI6IkpXVCJ9.eyJ0eXBlIjoiTUFJTiIsdmlhdCI6MTcfMzAyMzc3OCwiZXhwIjoxNzMzNjI4NTc4LCJzdWIiOir2NzRiZDgwNzA1ZWNjMTA5ZmQ0NDZkYTQifQ.ZdIdvJsLdCpd1SCUxXdnswEcTlHhVSUoZ7g4h7HoK8Smv1UAoiRhERnMmCGcEqTFUFCn5M4hMhGd4z-3selRAmtWng8sLDbQNdj4xssXoQT4DdRK5rpYj6ZAKz-DWVhnei1rIL-1gf9bZ36QOLJYQOBtlxxpS7QLiz7M1uFCvc2QcLMoIJjLWzsVhmAmjkj3t9FwSC-CtJmLWZycJzmxGaK0mRGkfZcHwJo8oSciTY36As_-RdDjpYxmmGU63SeDFkrbEr1yGboKc46WmrYaUsAYoeStLUmjwbPmtFpejzSd4z8oqfL73mjfkFSGaSLoPXNg3e6lfCCn8396CLR5Mw"
const device_unique_id = "somerandontoken";

// Configuration of the WebSocket connection
const socket = new Socket('ws://localhost:4000/socket', {
  params: { 
    token: jwt_token,
    device_unique_id: device_unique_id,
    preferred_language: "EN"
  },
  transport: WS,
});

socket.connect();

// Canal de chat e ID do chat
const chatID = "674bd8ba5a0b920001bd9f5d";
const channel = socket.channel(`chat:${chatID}`, {});

channel.join(5000)
  .receive("ok", resp => {
    console.log("Joined successfully", resp);
  })
  .receive("error", resp => {
    console.log("Unable to join", resp);
  })
  .receive("timeout", () => {
    console.log("Networking issue. Still waiting...");
  })

// send message to the chat
function sendMessage(content: string, mobile_ref_id: string){
  channel.push("send_message", { content, mobile_ref_id });
};

sendMessage("Hey, i'm fine! and you?", "123124");

// confirmations of messages sent
channel.on("message_sent", (payload) => {
  console.log("Got message", payload);

});

// receive messages
channel.on("receive_message", (payload) => {
  console.log("New message received", payload);
});

// Notification Channel
const notificationID = "6745e201c337080846beba9a";
const notificationChannel = socket.channel(`notifications:${notificationID}`, {});

// Join the notification channel
notificationChannel.join()
  .receive("ok", resp => {
    console.log("Joined successfully", resp);
  })
  .receive("error", resp => {
    console.log("Unable to join", resp);
  });

// Receive new notifications
notificationChannel.on("new_notification", (payload) => {
    console.log("New notification received:", payload);
});

// Receive pending notifications
notificationChannel.on("pending_notification", (payload) => {
    console.log("Pending notification received:", payload);
})
