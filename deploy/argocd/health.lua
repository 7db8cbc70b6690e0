-- Argo CD health check for the dns01.io kinds (Certificate, Issuer, ClusterIssuer, Order,
-- Challenge), in the style of the script Argo CD ships for cert-manager's Certificate. Install it
-- under resource.customizations in argocd-cm (docs/gitops.md has the snippet).
local hs = { status = "Progressing", message = "Waiting for the operator to report status" }
if obj.status == nil then
  return hs
end

-- A spec the operator has not seen yet says nothing about the status shown.
local generation = obj.metadata.generation
local observed = obj.status.observedGeneration
if generation ~= nil and (observed == nil or observed < generation) then
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  return hs
end

local function condition(type)
  if obj.status.conditions == nil then
    return nil
  end
  for _, c in ipairs(obj.status.conditions) do
    if c.type == type then
      return c
    end
  end
  return nil
end

if obj.kind == "Order" or obj.kind == "Challenge" then
  local state = obj.status.state
  if state == "valid" then
    hs.status = "Healthy"
    hs.message = obj.kind .. " is valid"
  elseif state == "invalid" or state == "errored" or state == "expired" then
    hs.status = "Degraded"
    hs.message = obj.status.reason or (obj.kind .. " is " .. state)
  else
    hs.message = obj.status.reason or (obj.kind .. " is " .. tostring(state or "pending"))
  end
  return hs
end

-- Certificate: an issuance in flight is Progressing, even while the old certificate is still good.
local issuing = condition("Issuing")
if issuing ~= nil and issuing.status == "True" then
  hs.message = issuing.message
  return hs
end
local ready = condition("Ready")
if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = ready.message
elseif ready ~= nil and ready.status == "False" then
  hs.status = "Degraded"
  hs.message = ready.message
end
return hs
